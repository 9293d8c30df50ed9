// API keys: every write to a key. Each function is one transaction with its
// audit event and, where verification changes, its announcement; failures are
// the typed errors of the mutation's result union.
import { generateKey, globalId, localId } from '@keygate/core';
import { announce, edited, recorded, sent, type Transaction } from './audit.ts';
import { batched } from './batch.ts';
import { clockOf, type MerchantContext } from './context.ts';
import { BadRequestError, KeyLimitReachedError, KeyRevokedError, NotFoundError, ValidationError } from './errors.ts';
import { keyEventData } from './events.ts';
import { lockIdentity } from './identities.ts';
import { listPage, type PageArgs } from './lists.ts';
import { type CreditsInput, creditsData, type RateLimitInput, rateLimitsData } from './metering.ts';
import type { ConnectionQuery } from './pagination.ts';
import { enforcePolicy } from './policies.ts';
import { type ApiKey, type IpAction, type KeyAccess, type KeyEnvironment, Prisma } from './prisma.ts';
import { lockRoles, roleGlobalIds, setKeyRoles } from './roles.ts';

/** The caller's key with this global id, or null (foreign and missing ids alike). */
export async function findKey<Q extends object>(ctx: MerchantContext, id: string, query?: Q) {
  const local = localId(id, 'ApiKey');
  if (!local) return null;
  return ctx.prisma.apiKey.findUnique({
    ...query,
    where: { id_merchantId: { id: local, merchantId: ctx.viewer.merchantId } },
  });
}

/** A key that exists and is not revoked, for the writes that change one. */
export async function requireChangeableKey(ctx: MerchantContext, id: string): Promise<ApiKey> {
  const key = await findKey(ctx, id);
  if (!key) throw new NotFoundError('ApiKey', id);
  if (key.revokedAt) throw new KeyRevokedError(id, key.revokedAt, 'change');
  return key;
}

/**
 * Updates a key unless it is revoked. The check is part of the write, so a
 * concurrent revocation is never undone; losing to one reports its real time.
 */
export async function updateUnrevokedKey(
  tx: Transaction,
  id: string,
  publicId: string,
  attempt: 'change' | 'revoke',
  data: Prisma.ApiKeyUpdateManyMutationInput,
): Promise<ApiKey> {
  const { count } = await tx.apiKey.updateMany({ where: { id, revokedAt: null }, data });
  const key = await tx.apiKey.findUniqueOrThrow({ where: { id } });
  if (count === 0 && key.revokedAt) throw new KeyRevokedError(publicId, key.revokedAt, attempt);
  return key;
}

export type { CreditsInput, RateLimitInput } from './metering.ts';

export interface CreateKeyInput {
  applicationId: string;
  name: string;
  websiteUrl?: string | null;
  access?: KeyAccess | null;
  scopes?: string[] | null;
  /** Global ids of the merchant's roles. */
  roles?: readonly string[] | null;
  /** The global id of the merchant's identity the key belongs to. */
  identityId?: string | null;
  environment?: KeyEnvironment | null;
  expiresAt?: Date | null;
  credits?: CreditsInput | null;
  rateLimits?: RateLimitInput[] | null;
  metadata?: unknown;
  externalId?: string | null;
  /** Already canonical (validated) CIDRs, in order: the key is limited from its first request. */
  ipRules?: { cidr: string; action: IpAction }[] | null;
  ipDefaultAction?: IpAction | null;
}

/** A new key and its secret, which exists only in this return value. */
export async function createKey(ctx: MerchantContext, input: CreateKeyInput): Promise<{ key: ApiKey; secret: string }> {
  const { merchantId } = ctx.viewer;
  const applicationId = localId(input.applicationId, 'Application');
  if (!applicationId) throw new NotFoundError('Application', input.applicationId);
  const environment = input.environment ?? 'LIVE';
  const { secret, prefix, hash } = generateKey(environment === 'LIVE' ? 'live' : 'test');
  const limit = ctx.settings.maxKeysPerApplication;
  const key = await recorded(
    ctx,
    async (tx) => {
      // Locking the application row serialises concurrent creations, so the
      // count below cannot be overtaken between checking and inserting.
      const locked = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM applications WHERE id = ${applicationId}::uuid AND merchant_id = ${merchantId} FOR UPDATE`;
      if (locked.length === 0) throw new NotFoundError('Application', input.applicationId);
      const held = await tx.apiKey.count({ where: { applicationId, revokedAt: null } });
      if (held >= limit) throw new KeyLimitReachedError(limit);
      const roles = await lockRoles(tx, merchantId, input.roles ?? [], ['input', 'roles']);
      const identityId = await lockIdentity(tx, merchantId, input.identityId ?? null);
      const created = await tx.apiKey.create({
        data: {
          merchantId,
          applicationId,
          name: input.name,
          websiteUrl: input.websiteUrl ?? null,
          prefix,
          hash,
          access: input.access ?? 'READ_ONLY',
          scopes: input.scopes ?? [],
          environment,
          expiresAt: input.expiresAt ?? null,
          ...creditsData(input.credits ?? null, clockOf(ctx)),
          rateLimits: rateLimitsData(input.rateLimits ?? null),
          metadata: metadataData(input.metadata),
          externalId: input.externalId ?? null,
          identityId,
          ipDefaultAction: input.ipDefaultAction ?? 'ALLOW',
        },
      });
      if (input.ipRules?.length) {
        await tx.ipRule.createMany({
          data: input.ipRules.map((rule, position) => ({ keyId: created.id, position, ...rule })),
        });
      }
      await setKeyRoles(tx, merchantId, created.id, roles);
      await enforcePolicy(ctx, tx, { keys: [{ id: created.id, path: ['input'] }] });
      return created;
    },
    (created) => ({
      action: 'createKey',
      event: { type: 'KEY_CREATED', data: keyEventData(created) },
      target: { type: 'ApiKey', id: created.id },
      summary: {
        applicationId: input.applicationId,
        prefix: created.prefix,
        ...sent(input, [
          'name',
          'websiteUrl',
          'access',
          'scopes',
          'roles',
          'identityId',
          'environment',
          'expiresAt',
          'credits',
          'rateLimits',
          'metadata',
          'externalId',
          'ipRules',
          'ipDefaultAction',
        ]),
      },
    }),
    // Drops a remembered "unknown key" with this hash (a guess that came true).
    () => ({ hashes: [hash] }),
  );
  return { key, secret };
}

export interface EditKeyInput {
  id: string;
  name?: string | null;
  websiteUrl?: string | null;
  access?: KeyAccess | null;
  scopes?: string[] | null;
  /** Replaces the key's roles (global ids); [] takes every role off. */
  roles?: readonly string[] | null;
  /** Moves the key to this identity (a global id); null: it belongs to none. */
  identityId?: string | null;
  expiresAt?: Date | null;
  /** null removes the credits; a value replaces them (and voids every instance's reservations). */
  credits?: CreditsInput | null;
  /** Replaces the list; null or [] removes every limit. */
  rateLimits?: RateLimitInput[] | null;
  /** Replaces the metadata; null clears it. */
  metadata?: unknown;
  externalId?: string | null;
}

/** Changes the given fields; undefined ones stay as they are (null clears the URL, the expiry, the credits). */
export async function editKey(ctx: MerchantContext, input: EditKeyInput): Promise<ApiKey> {
  const current = await requireChangeableKey(ctx, input.id);
  const sharing = await rolledInto(ctx, current.id);
  const previousRoles =
    input.roles != null
      ? roleGlobalIds(
          (await ctx.prisma.keyRole.findMany({ where: { keyId: current.id }, orderBy: { roleId: 'asc' } })).map(
            (row) => row.roleId,
          ),
        )
      : [];
  return recorded(
    ctx,
    async (tx) => {
      if (input.expiresAt !== undefined) await checkRolledEnd(tx, current.id, input.expiresAt);
      if (input.roles != null) {
        const roles = await lockRoles(tx, ctx.viewer.merchantId, input.roles, ['input', 'roles']);
        await setKeyRoles(tx, ctx.viewer.merchantId, current.id, roles);
      }
      const identityId =
        input.identityId !== undefined ? await lockIdentity(tx, ctx.viewer.merchantId, input.identityId) : undefined;
      const key = await updateUnrevokedKey(tx, current.id, input.id, 'change', {
        ...(identityId !== undefined ? { identityId } : {}),
        ...(input.name != null ? { name: input.name } : {}),
        ...(input.websiteUrl !== undefined ? { websiteUrl: input.websiteUrl } : {}),
        ...(input.access != null ? { access: input.access } : {}),
        ...(input.scopes != null ? { scopes: input.scopes } : {}),
        ...(input.expiresAt !== undefined ? { expiresAt: input.expiresAt } : {}),
        ...(input.credits !== undefined
          ? { ...creditsData(input.credits, clockOf(ctx)), creditsEpoch: { increment: 1 } }
          : {}),
        ...(input.rateLimits !== undefined ? { rateLimits: rateLimitsData(input.rateLimits) } : {}),
        ...(input.metadata !== undefined ? { metadata: metadataData(input.metadata) } : {}),
        ...(input.externalId !== undefined ? { externalId: input.externalId } : {}),
      });
      // An existing key may predate the policy: only rules about the fields this edit sends refuse it.
      const sentFields = Object.entries(input).flatMap(([field, value]) => (value === undefined ? [] : [field]));
      await enforcePolicy(ctx, tx, { keys: [{ id: current.id, path: ['input'] }], sent: sentFields });
      return key;
    },
    (key) => ({
      action: 'editKey',
      event: { type: 'KEY_UPDATED', data: keyEventData(key) },
      target: { type: 'ApiKey', id: current.id },
      summary: edited(
        {
          ...current,
          roles: previousRoles,
          identityId: current.identityId === null ? null : globalId('Identity', current.identityId),
        },
        input,
        [
          'name',
          'websiteUrl',
          'access',
          'scopes',
          'roles',
          'identityId',
          'expiresAt',
          'credits',
          'rateLimits',
          'metadata',
          'externalId',
        ],
        ['name', 'websiteUrl', 'access', 'scopes', 'roles', 'identityId', 'expiresAt', 'externalId'],
      ),
    }),
    // Keys rolled into this one in their grace share its credits and limits: they verify differently too.
    () => ({ keyIds: [current.id, ...sharing] }),
  );
}

/**
 * A rolled key's end is final: its replacement took over, and its expiry is the end of its grace.
 * It may come sooner, never later (nor go away). Checked under the row lock a roll takes.
 */
async function checkRolledEnd(tx: Transaction, id: string, expiresAt: Date | null): Promise<void> {
  await tx.$queryRaw`SELECT id FROM api_keys WHERE id = ${id}::uuid FOR UPDATE`;
  const key = await tx.apiKey.findUniqueOrThrow({ where: { id }, include: { rolledTo: { select: { id: true } } } });
  if (!key.rolledTo) return;
  if (expiresAt !== null && key.expiresAt !== null && expiresAt <= key.expiresAt) return;
  const end = key.expiresAt === null ? '' : ` (${key.expiresAt.toISOString()})`;
  throw new ValidationError([
    {
      path: ['input', 'expiresAt'],
      message: `this key was rolled into ${globalId('ApiKey', key.rolledTo.id)}: its end${end} is final; it can only come sooner`,
    },
  ]);
}

/** Disables (refused with KEY_DISABLED) or enables again a key that is not revoked. */
export async function setKeyEnabled(ctx: MerchantContext, id: string, enabled: boolean): Promise<ApiKey> {
  const current = await requireChangeableKey(ctx, id);
  return recorded(
    ctx,
    (tx) => updateUnrevokedKey(tx, current.id, id, 'change', { enabled }),
    (key) => ({
      action: 'setKeyEnabled',
      target: { type: 'ApiKey', id: current.id },
      summary: { enabled },
      event: { type: enabled ? 'KEY_ENABLED' : 'KEY_DISABLED', data: keyEventData(key) },
    }),
    () => ({ keyIds: [current.id] }),
  );
}

/**
 * Replaces a key with a new one that copies everything about it (credits and rate limits move
 * to the new key); the old key keeps verifying until the grace period ends, then is EXPIRED.
 * Concurrent rolls of one key: the row lock and the unique rolled_from_id let exactly one win.
 */
export async function rollKey(
  ctx: MerchantContext,
  id: string,
  gracePeriodSeconds: number,
  /** The new key's expiry (a roll is when a policy's lifetime is met); undefined: the old key's. */
  expiresAt?: Date | null,
): Promise<{ key: ApiKey; previousKey: ApiKey; secret: string }> {
  const current = await findKey(ctx, id);
  if (!current) throw new NotFoundError('ApiKey', id);
  const { secret, prefix, hash } = generateKey(current.environment === 'LIVE' ? 'live' : 'test');
  const now = clockOf(ctx);
  const sharing = await rolledInto(ctx, current.id);
  const result = await recorded(
    ctx,
    async (tx) => {
      await tx.$queryRaw`SELECT id FROM api_keys WHERE id = ${current.id}::uuid FOR UPDATE`;
      const old = await tx.apiKey.findUniqueOrThrow({ where: { id: current.id }, include: { rolledTo: true } });
      if (old.revokedAt) throw new KeyRevokedError(id, old.revokedAt, 'change');
      if (old.rolledTo) {
        const successor = globalId('ApiKey', old.rolledTo.id);
        throw new ValidationError([
          { path: ['input', 'id'], message: `this key was already rolled; its replacement is ${successor}` },
        ]);
      }
      const key = await tx.apiKey.create({
        data: {
          merchantId: old.merchantId,
          applicationId: old.applicationId,
          name: old.name,
          websiteUrl: old.websiteUrl,
          prefix,
          hash,
          access: old.access,
          scopes: old.scopes,
          environment: old.environment,
          expiresAt: expiresAt === undefined ? old.expiresAt : expiresAt,
          ipDefaultAction: old.ipDefaultAction,
          enabled: old.enabled,
          metadata: old.metadata === null ? undefined : (old.metadata as Prisma.InputJsonValue),
          externalId: old.externalId,
          identityId: old.identityId,
          // The credits move: what instances hold in reservation for the old key is spent there
          // or lost with it, never counted twice.
          creditsRemaining: old.creditsRemaining,
          refillAmount: old.refillAmount,
          refillInterval: old.refillInterval,
          refillDay: old.refillDay,
          refilledAt: old.refilledAt,
          rateLimits: old.rateLimits as Prisma.InputJsonValue,
          rolledFromId: old.id,
        },
      });
      await tx.$executeRaw`
        INSERT INTO ip_rules (id, key_id, position, cidr, action)
        SELECT gen_random_uuid(), ${key.id}::uuid, position, cidr, action FROM ip_rules WHERE key_id = ${old.id}::uuid`;
      await tx.$executeRaw`
        INSERT INTO key_roles (key_id, role_id, merchant_id)
        SELECT ${key.id}::uuid, role_id, merchant_id FROM key_roles WHERE key_id = ${old.id}::uuid`;
      // The windows used so far go with the limits, so a roll does not reset them.
      await tx.$executeRaw`
        INSERT INTO rate_limit_windows (key_id, name, window_start, window_end, used)
        SELECT ${key.id}::uuid, name, window_start, window_end, used FROM rate_limit_windows
        WHERE key_id = ${old.id}::uuid AND window_end > now()`;
      const graceEnd = new Date(now + gracePeriodSeconds * 1000);
      const previousKey = await tx.apiKey.update({
        where: { id: old.id },
        data: {
          expiresAt: old.expiresAt !== null && old.expiresAt < graceEnd ? old.expiresAt : graceEnd,
          ...creditsData(null, now),
          creditsEpoch: { increment: 1 },
          rateLimits: [],
        },
      });
      // The new key is a new key: every rule applies to it, and the grace period to the roll.
      await enforcePolicy(ctx, tx, { keys: [{ id: key.id, path: ['input'] }], gracePeriodSeconds });
      return { key, previousKey };
    },
    ({ key, previousKey }) => ({
      action: 'rollKey',
      event: {
        type: 'KEY_ROLLED',
        data: { ...keyEventData(key), previousKey: keyEventData(previousKey, new Date(now)) },
      },
      target: { type: 'ApiKey', id: current.id },
      summary: {
        gracePeriodSeconds,
        newKeyId: globalId('ApiKey', key.id),
        prefix: key.prefix,
        ...(expiresAt !== undefined ? { expiresAt: expiresAt?.toISOString() ?? null } : {}),
      },
    }),
    // The old key (and any key rolled into it) now verifies differently; the new hash was never a key.
    () => ({ keyIds: [current.id, ...sharing], hashes: [hash] }),
  );
  return { ...result, secret };
}

/** The keys rolled into this one, directly or through others (they share its metering). */
async function rolledInto(ctx: MerchantContext, id: string): Promise<string[]> {
  const rows = await ctx.prisma.$queryRaw<{ id: string }[]>`
    WITH RECURSIVE up AS (
      SELECT rolled_from_id AS id, 1 AS depth FROM api_keys WHERE id = ${id}::uuid AND rolled_from_id IS NOT NULL
      UNION ALL
      SELECT k.rolled_from_id, up.depth + 1 FROM up JOIN api_keys k ON k.id = up.id
      WHERE k.rolled_from_id IS NOT NULL AND up.depth < 32
    )
    SELECT id::text AS id FROM up`;
  return rows.map((row) => row.id);
}

/** Metadata for a write: a JSON value, or the database's NULL for null. */
function metadataData(metadata: unknown) {
  return metadata === null || metadata === undefined ? Prisma.DbNull : (metadata as Prisma.InputJsonValue);
}

/** Stops the key from verifying, at once, on every instance, for good. */
export async function revokeKey(
  ctx: MerchantContext,
  id: string,
  /** A revocation applySuggestion makes (a key unused for the window): audited as that. */
  suggested?: { action: 'applySuggestion'; kind: 'REVOKE_UNUSED' },
): Promise<ApiKey> {
  const current = await findKey(ctx, id);
  if (!current) throw new NotFoundError('ApiKey', id);
  try {
    return await recorded(
      ctx,
      (tx) => updateUnrevokedKey(tx, current.id, id, 'revoke', { revokedAt: new Date() }),
      (key) => ({
        action: suggested?.action ?? 'revokeKey',
        target: { type: 'ApiKey', id: current.id },
        summary: suggested ? { kind: suggested.kind } : {},
        event: { type: 'KEY_REVOKED', data: keyEventData(key) },
      }),
      () => ({ keyIds: [current.id] }),
    );
  } catch (error) {
    // "Already revoked" is announced again: a client retrying a revocation heals an instance
    // that missed it (one whose notification connection was down and its cache not yet bypassed).
    if (error instanceof KeyRevokedError) await announce(ctx, { keyIds: [current.id] });
    throw error;
  }
}

/** Keys that are not revoked and expire within `withinSeconds` from now (1 s to a year). */
function expiringWhere(ctx: MerchantContext, withinSeconds: number): Prisma.ApiKeyWhereInput {
  if (withinSeconds < 1 || withinSeconds > 31_536_000) {
    throw new BadRequestError('withinSeconds must be from 1 to 31536000 (a year)');
  }
  const now = clockOf(ctx);
  return {
    merchantId: ctx.viewer.merchantId,
    revokedAt: null,
    expiresAt: { gt: new Date(now), lte: new Date(now + withinSeconds * 1000) },
  };
}

/** A page of the merchant's keys that match `where`, newest first. */
function listKeysWhere(ctx: MerchantContext, where: Prisma.ApiKeyWhereInput, args: PageArgs, query: ConnectionQuery) {
  return listPage(query, args, ctx.settings.maxPageSize, (page) =>
    ctx.prisma.apiKey.findMany({ ...page.query, where: { AND: [where, page.keyset] }, orderBy: page.orderBy }),
  );
}

/** A page of the keys that expire soon, newest first (dashboards; webhooks send key.expiring). */
export function listExpiringKeys(
  ctx: MerchantContext,
  args: { withinSeconds: number } & PageArgs,
  query: ConnectionQuery,
) {
  return listKeysWhere(ctx, expiringWhere(ctx, args.withinSeconds), args, query);
}

export function countExpiringKeys(ctx: MerchantContext, withinSeconds: number): Promise<number> {
  return ctx.prisma.apiKey.count({ where: expiringWhere(ctx, withinSeconds) });
}

/**
 * Keys that still work but nobody used for `unusedForSeconds` (1 day to a year): created before
 * then, and never used since. What a merchant may revoke to keep fewer live secrets about.
 */
function unusedWhere(ctx: MerchantContext, unusedForSeconds: number): Prisma.ApiKeyWhereInput {
  if (!Number.isInteger(unusedForSeconds) || unusedForSeconds < 86_400 || unusedForSeconds > 31_536_000) {
    throw new BadRequestError('unusedForSeconds must be from 86400 (a day) to 31536000 (a year)');
  }
  const now = clockOf(ctx);
  const since = new Date(now - unusedForSeconds * 1000);
  return {
    merchantId: ctx.viewer.merchantId,
    revokedAt: null,
    OR: [{ expiresAt: null }, { expiresAt: { gt: new Date(now) } }],
    createdAt: { lt: since },
    AND: [{ OR: [{ lastUse: { is: null } }, { lastUse: { is: { at: { lt: since } } } }] }],
  };
}

/** A page of the keys unused for a while, newest first. */
export function listUnusedKeys(
  ctx: MerchantContext,
  args: { unusedForSeconds: number } & PageArgs,
  query: ConnectionQuery,
) {
  return listKeysWhere(ctx, unusedWhere(ctx, args.unusedForSeconds), args, query);
}

export function countUnusedKeys(ctx: MerchantContext, unusedForSeconds: number): Promise<number> {
  return ctx.prisma.apiKey.count({ where: unusedWhere(ctx, unusedForSeconds) });
}

/** When and from where a key was last verified; null if never. */
export type LastUse = { at: Date; ip: string | null } | null;

/**
 * A key's last use: from its row when it was loaded with it (a page of an application's keys is),
 * else with every other key's of this request in one statement.
 */
export async function lastUseOf(ctx: MerchantContext, key: ApiKey & { lastUse?: LastUse }): Promise<LastUse> {
  if (key.lastUse !== undefined) return key.lastUse;
  const merchantId = ctx.viewer.merchantId;
  const found = await batched(ctx, 'lastUse', key.id, async (ids) => {
    const rows = await ctx.prisma.$queryRaw<{ key_id: string; at: Date; ip: string | null }[]>`
      SELECT l.key_id, l.at, l.ip FROM api_key_last_used l JOIN api_keys k ON k.id = l.key_id
      WHERE l.key_id = ANY(${ids}::uuid[]) AND k.merchant_id = ${merchantId}`;
    return new Map(rows.map((row) => [row.key_id, { at: row.at, ip: row.ip }]));
  });
  return found ?? null;
}
