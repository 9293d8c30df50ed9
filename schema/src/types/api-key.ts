// API keys: the type, its queries, and the mutations that create and change keys.

import { announce, recorded, sent, type Transaction } from '../audit.ts';
import { builder } from '../builder.ts';
import { type Context, requireViewer } from '../context.ts';
import { generateKey } from '../domain/api-key.ts';
import { KeyLimitReachedError, KeyRevokedError, NotFoundError, ValidationError } from '../errors.ts';
import { localId } from '../ids.ts';
import type { ApiKey as ApiKeyRow, Prisma } from '../prisma.ts';
import { futureDateRule, nameRule, scopesRule, websiteUrlRule } from '../validation.ts';

export const KeyAccess = builder.enumType('KeyAccess', {
  values: {
    READ_ONLY: { description: 'Reads only; the kind of key that is safe in a frontend' },
    FULL_ACCESS: { description: 'Reads and writes' },
  },
});
export const KeyEnvironment = builder.enumType('KeyEnvironment', { values: ['LIVE', 'TEST'] as const });
export const KeyStatus = builder.enumType('KeyStatus', {
  values: {
    ACTIVE: { description: 'Verifies (while its application is enabled)' },
    EXPIRED: { description: 'Its expiry has passed; moving the expiry revives it' },
    REVOKED: { description: 'Final: never verifies again and cannot be reactivated' },
  },
});
export type KeyStatusName = 'ACTIVE' | 'EXPIRED' | 'REVOKED';

export function keyStatus(key: Pick<ApiKeyRow, 'revokedAt' | 'expiresAt'>, now: Date): KeyStatusName {
  if (key.revokedAt) return 'REVOKED';
  if (key.expiresAt && key.expiresAt <= now) return 'EXPIRED';
  return 'ACTIVE';
}

/** The same classification as keyStatus, as a database filter. */
export function keyStatusWhere(
  statuses: readonly KeyStatusName[] | null | undefined,
  now: Date,
): Prisma.ApiKeyWhereInput {
  if (!statuses || statuses.length === 0) return {};
  const byStatus: Record<KeyStatusName, Prisma.ApiKeyWhereInput> = {
    ACTIVE: { revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
    EXPIRED: { revokedAt: null, expiresAt: { lte: now } },
    REVOKED: { revokedAt: { not: null } },
  };
  return { OR: [...new Set(statuses)].map((status) => byStatus[status]) };
}

export const ApiKey = builder.prismaNode('ApiKey', {
  id: { field: 'id' },
  nullable: true,
  findUnique: (id, ctx) => ({ id_merchantId: { id, merchantId: ctx.viewer?.merchantId ?? '' } }),
  fields: (t) => ({
    name: t.exposeString('name'),
    websiteUrl: t.exposeString('websiteUrl', { nullable: true }),
    prefix: t.exposeString('prefix', { description: 'Visible start of the secret, e.g. kg_live_Ab3x' }),
    access: t.expose('access', { type: KeyAccess }),
    scopes: t.exposeStringList('scopes', { description: 'Empty: everything its access level allows' }),
    environment: t.expose('environment', { type: KeyEnvironment }),
    status: t.field({ type: KeyStatus, resolve: (key) => keyStatus(key, new Date()) }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
    lastUsedIp: t.exposeString('lastUsedIp', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    application: t.relation('application'),
  }),
});

builder.queryField('apiKey', (t) =>
  t.prismaField({
    type: ApiKey,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => findKey(ctx, args.id, query),
  }),
);

/** The caller's key with this global id, or null (foreign and missing ids alike). */
export async function findKey<Q extends object>(ctx: Context, id: string, query?: Q) {
  const local = localId(id, 'ApiKey');
  if (!local) return null;
  return ctx.prisma.apiKey.findUnique({
    ...query,
    where: { id_merchantId: { id: local, merchantId: requireViewer(ctx).merchantId } },
  });
}

/** A key that exists and is not revoked, for the mutations that change one. */
export async function requireChangeableKey(ctx: Context, id: string): Promise<ApiKeyRow> {
  const key = await findKey(ctx, id);
  if (!key) throw new NotFoundError('ApiKey', id);
  if (key.revokedAt) throw new KeyRevokedError(id, key.revokedAt, 'change');
  return key;
}

/**
 * Updates a key unless it is revoked. The check is part of the write, so a
 * concurrent revocation is never undone; losing to one reports its real time.
 */
export async function updateUnlessRevoked(
  tx: Transaction,
  id: string,
  publicId: string,
  attempt: 'change' | 'revoke',
  data: Prisma.ApiKeyUpdateManyMutationInput,
): Promise<ApiKeyRow> {
  const { count } = await tx.apiKey.updateMany({ where: { id, revokedAt: null }, data });
  const key = await tx.apiKey.findUniqueOrThrow({ where: { id } });
  if (count === 0 && key.revokedAt) throw new KeyRevokedError(publicId, key.revokedAt, attempt);
  return key;
}

const CreateKeyInput = builder.inputType('CreateKeyInput', {
  fields: (t) => ({
    applicationId: t.id({ required: true }),
    name: t.string({
      required: true,
      validate: nameRule(100),
      description: 'A label for the key; at most 100 characters',
    }),
    websiteUrl: t.string({ validate: websiteUrlRule, description: 'The http(s) site or app that uses the key' }),
    access: t.field({ type: KeyAccess, defaultValue: 'READ_ONLY' }),
    scopes: t.stringList({
      validate: scopesRule,
      description: 'e.g. ["payments:write"]; empty or absent: no narrowing',
    }),
    environment: t.field({ type: KeyEnvironment, defaultValue: 'LIVE' }),
    expiresAt: t.field({ type: 'DateTime', validate: futureDateRule, description: 'When the key stops verifying' }),
  }),
});

const CreateKeyPayload = builder.objectRef<{ key: ApiKeyRow; secret: string }>('CreateKeyPayload').implement({
  fields: (t) => ({
    key: t.field({ type: ApiKey, resolve: (payload) => payload.key }),
    secret: t.exposeString('secret', {
      description: 'The full key. Shown only here, only once: store it now; it cannot be retrieved again',
    }),
  }),
});

const EditKeyInput = builder.inputType('EditKeyInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string({ validate: nameRule(100) }),
    websiteUrl: t.string({ validate: websiteUrlRule, description: 'null or "" clears it' }),
    access: t.field({ type: KeyAccess }),
    scopes: t.stringList({ validate: scopesRule }),
    expiresAt: t.field({ type: 'DateTime', validate: futureDateRule, description: 'null removes the expiry' }),
  }),
});

export const ApiKeyPayload = builder.objectRef<{ key: ApiKeyRow }>('ApiKeyPayload').implement({
  fields: (t) => ({ key: t.field({ type: ApiKey, resolve: (payload) => payload.key }) }),
});

builder.mutationFields((t) => ({
  createKey: t.field({
    type: CreateKeyPayload,
    args: { input: t.arg({ type: CreateKeyInput, required: true }) },
    errors: {
      types: [ValidationError, NotFoundError, KeyLimitReachedError],
      directResult: true,
      union: { name: 'CreateKeyResult' },
    },
    resolve: async (_root, { input }, ctx) => {
      const merchantId = requireViewer(ctx).merchantId;
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
          return tx.apiKey.create({
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
            },
          });
        },
        (created) => ({
          action: 'createKey',
          target: { type: 'ApiKey', id: created.id },
          summary: {
            applicationId: input.applicationId,
            prefix: created.prefix,
            ...sent(input, ['name', 'websiteUrl', 'access', 'scopes', 'environment', 'expiresAt']),
          },
        }),
        // Drops a remembered "unknown key" with this hash (a guess that came true).
        () => ({ hashes: [hash] }),
      );
      return { key, secret };
    },
  }),
  editKey: t.field({
    type: ApiKeyPayload,
    description: 'Changes the given fields; omitted fields stay as they are',
    args: { input: t.arg({ type: EditKeyInput, required: true }) },
    errors: {
      types: [ValidationError, NotFoundError, KeyRevokedError],
      directResult: true,
      union: { name: 'EditKeyResult' },
    },
    resolve: async (_root, { input }, ctx) => {
      for (const field of ['name', 'access', 'scopes'] as const) {
        if (input[field] === null) throw new ValidationError([{ path: ['input', field], message: 'must not be null' }]);
      }
      const current = await requireChangeableKey(ctx, input.id);
      const key = await recorded(
        ctx,
        (tx) =>
          updateUnlessRevoked(tx, current.id, input.id, 'change', {
            ...(input.name != null ? { name: input.name } : {}),
            ...(input.websiteUrl !== undefined ? { websiteUrl: input.websiteUrl } : {}),
            ...(input.access != null ? { access: input.access } : {}),
            ...(input.scopes != null ? { scopes: input.scopes } : {}),
            ...(input.expiresAt !== undefined ? { expiresAt: input.expiresAt } : {}),
          }),
        () => ({
          action: 'editKey',
          target: { type: 'ApiKey', id: current.id },
          summary: sent(input, ['name', 'websiteUrl', 'access', 'scopes', 'expiresAt']),
        }),
        () => ({ keyIds: [current.id] }),
      );
      return { key };
    },
  }),
  revokeKey: t.field({
    type: ApiKeyPayload,
    description: 'Stops the key from verifying, at once and for good',
    args: {
      input: t.arg({
        type: builder.inputType('RevokeKeyInput', { fields: (f) => ({ id: f.id({ required: true }) }) }),
        required: true,
      }),
    },
    errors: { types: [NotFoundError, KeyRevokedError], directResult: true, union: { name: 'RevokeKeyResult' } },
    resolve: async (_root, { input }, ctx) => {
      const current = await findKey(ctx, input.id);
      if (!current) throw new NotFoundError('ApiKey', input.id);
      try {
        const key = await recorded(
          ctx,
          (tx) => updateUnlessRevoked(tx, current.id, input.id, 'revoke', { revokedAt: new Date() }),
          () => ({ action: 'revokeKey', target: { type: 'ApiKey', id: current.id }, summary: {} }),
          () => ({ keyIds: [current.id] }),
        );
        return { key };
      } catch (error) {
        // "Already revoked" is announced again: a client retrying a revocation heals an instance
        // that missed it (one whose notification connection was down and its cache not yet bypassed).
        if (error instanceof KeyRevokedError) await announce(ctx, { keyIds: [current.id] });
        throw error;
      }
    },
  }),
}));
