// API keys: every write to a key. Each function is one transaction with its
// audit event and, where verification changes, its announcement; failures are
// the typed errors of the mutation's result union.
import { generateKey, localId, type RefillInterval, refillDue } from '@keygate/core';
import { clockOf, type MerchantContext } from '../context.ts';
import { KeyLimitReachedError, KeyRevokedError, NotFoundError } from '../errors.ts';
import type { ApiKey, KeyAccess, KeyEnvironment, Prisma } from '../prisma.ts';
import { announce, recorded, sent, type Transaction } from './audit.ts';

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

export interface CreditsInput {
  remaining: number;
  refillAmount?: number | null;
  refillInterval?: RefillInterval | null;
  refillDay?: number | null;
}

export interface RateLimitInput {
  name: string;
  limit: number;
  windowSeconds: number;
}

/**
 * The columns of a key's credits, set anew: no reservation of before counts (the caller bumps the
 * epoch on a change), and a refill schedule starts from the current period (no refill at once).
 */
function creditsData(credits: CreditsInput | null, now: number) {
  const interval = credits?.refillInterval ?? null;
  const day = interval === 'MONTHLY' ? (credits?.refillDay ?? 1) : null;
  return {
    creditsRemaining: credits?.remaining ?? null,
    creditsReserved: 0,
    refillAmount: interval ? (credits?.refillAmount ?? null) : null,
    refillInterval: interval,
    refillDay: day,
    refilledAt: interval ? new Date(refillDue(interval, day, now)) : null,
  };
}

const rateLimitsData = (limits: readonly RateLimitInput[] | null) =>
  (limits ?? []).map(({ name, limit, windowSeconds }) => ({ name, limit, windowSeconds }));

export interface CreateKeyInput {
  applicationId: string;
  name: string;
  websiteUrl?: string | null;
  access?: KeyAccess | null;
  scopes?: string[] | null;
  environment?: KeyEnvironment | null;
  expiresAt?: Date | null;
  credits?: CreditsInput | null;
  rateLimits?: RateLimitInput[] | null;
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
          ...creditsData(input.credits ?? null, clockOf(ctx)),
          rateLimits: rateLimitsData(input.rateLimits ?? null),
        },
      });
    },
    (created) => ({
      action: 'createKey',
      target: { type: 'ApiKey', id: created.id },
      summary: {
        applicationId: input.applicationId,
        prefix: created.prefix,
        ...sent(input, ['name', 'websiteUrl', 'access', 'scopes', 'environment', 'expiresAt', 'credits', 'rateLimits']),
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
  expiresAt?: Date | null;
  /** null removes the credits; a value replaces them (and voids every instance's reservations). */
  credits?: CreditsInput | null;
  /** Replaces the list; null or [] removes every limit. */
  rateLimits?: RateLimitInput[] | null;
}

/** Changes the given fields; undefined ones stay as they are (null clears the URL, the expiry, the credits). */
export async function editKey(ctx: MerchantContext, input: EditKeyInput): Promise<ApiKey> {
  const current = await requireChangeableKey(ctx, input.id);
  return recorded(
    ctx,
    (tx) =>
      updateUnrevokedKey(tx, current.id, input.id, 'change', {
        ...(input.name != null ? { name: input.name } : {}),
        ...(input.websiteUrl !== undefined ? { websiteUrl: input.websiteUrl } : {}),
        ...(input.access != null ? { access: input.access } : {}),
        ...(input.scopes != null ? { scopes: input.scopes } : {}),
        ...(input.expiresAt !== undefined ? { expiresAt: input.expiresAt } : {}),
        ...(input.credits !== undefined
          ? { ...creditsData(input.credits, clockOf(ctx)), creditsEpoch: { increment: 1 } }
          : {}),
        ...(input.rateLimits !== undefined ? { rateLimits: rateLimitsData(input.rateLimits) } : {}),
      }),
    () => ({
      action: 'editKey',
      target: { type: 'ApiKey', id: current.id },
      summary: sent(input, ['name', 'websiteUrl', 'access', 'scopes', 'expiresAt', 'credits', 'rateLimits']),
    }),
    () => ({ keyIds: [current.id] }),
  );
}

/** Stops the key from verifying, at once, on every instance, for good. */
export async function revokeKey(ctx: MerchantContext, id: string): Promise<ApiKey> {
  const current = await findKey(ctx, id);
  if (!current) throw new NotFoundError('ApiKey', id);
  try {
    return await recorded(
      ctx,
      (tx) => updateUnrevokedKey(tx, current.id, id, 'revoke', { revokedAt: new Date() }),
      () => ({ action: 'revokeKey', target: { type: 'ApiKey', id: current.id }, summary: {} }),
      () => ({ keyIds: [current.id] }),
    );
  } catch (error) {
    // "Already revoked" is announced again: a client retrying a revocation heals an instance
    // that missed it (one whose notification connection was down and its cache not yet bypassed).
    if (error instanceof KeyRevokedError) await announce(ctx, { keyIds: [current.id] });
    throw error;
  }
}
