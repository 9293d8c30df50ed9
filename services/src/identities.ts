// Identities: whoever a merchant's keys belong to (a customer, a user, a team), under the
// merchant's own id for it. Every verification of a key answers with its identity; a change to an
// identity is announced by its id, and every cache drops that identity's keys.
import { localId } from '@keygate/core';
import { edited, recorded, sent, type Transaction } from './audit.ts';
import { batched } from './batch.ts';
import type { MerchantContext } from './context.ts';
import { clockOf } from './context.ts';
import { IdentityInUseError, NameConflictError, NotFoundError } from './errors.ts';
import { escapeLike, listPage, type PageArgs } from './lists.ts';
import { type CreditsInput, creditsData, type RateLimitInput, rateLimitsData } from './metering.ts';
import type { ConnectionQuery } from './pagination.ts';
import { type Identity, Prisma } from './prisma.ts';
import { isUniqueViolation } from './prisma-errors.ts';

/** The caller's identity with this global id, or null (foreign and missing ids alike). */
export async function findIdentity<Q extends object>(ctx: MerchantContext, id: string, query?: Q) {
  const local = localId(id, 'Identity');
  if (!local) return null;
  return ctx.prisma.identity.findUnique({
    ...query,
    where: { id_merchantId: { id: local, merchantId: ctx.viewer.merchantId } },
  });
}

/** The caller's identity with this external id, or null. */
export function findIdentityByExternalId<Q extends object>(ctx: MerchantContext, externalId: string, query?: Q) {
  return ctx.prisma.identity.findUnique({
    ...query,
    where: { merchantId_externalId: { merchantId: ctx.viewer.merchantId, externalId } },
  });
}

export interface IdentityFilter {
  /** External ids or names containing this text, ignoring case. */
  search?: string | null;
}

function identityWhere(ctx: MerchantContext, filter: IdentityFilter): Prisma.IdentityWhereInput {
  const text = filter.search?.trim();
  return {
    merchantId: ctx.viewer.merchantId,
    ...(text
      ? {
          OR: [
            { externalId: { contains: escapeLike(text), mode: 'insensitive' } },
            { name: { contains: escapeLike(text), mode: 'insensitive' } },
          ],
        }
      : {}),
  };
}

/** A page of the merchant's identities, newest first. */
export function listIdentities(ctx: MerchantContext, args: IdentityFilter & PageArgs, query: ConnectionQuery) {
  return listPage(query, args, ctx.settings.maxPageSize, (page) =>
    ctx.prisma.identity.findMany({
      ...page.query,
      where: { AND: [identityWhere(ctx, args), page.keyset] },
      orderBy: page.orderBy,
    }),
  );
}

export function countIdentities(ctx: MerchantContext, filter: IdentityFilter): Promise<number> {
  return ctx.prisma.identity.count({ where: identityWhere(ctx, filter) });
}

export interface CreateIdentityInput {
  externalId: string;
  name?: string | null;
  metadata?: unknown;
  /** Credits all its keys share; absent: none. */
  credits?: CreditsInput | null;
  /** Rate limits all its keys share. */
  rateLimits?: RateLimitInput[] | null;
}

export async function createIdentity(ctx: MerchantContext, input: CreateIdentityInput): Promise<Identity> {
  return withExternalIdCheck(input.externalId, () =>
    recorded(
      ctx,
      (tx) =>
        tx.identity.create({
          data: {
            merchantId: ctx.viewer.merchantId,
            externalId: input.externalId,
            name: input.name ?? null,
            metadata: metadataData(input.metadata),
            ...creditsData(input.credits ?? null, clockOf(ctx)),
            rateLimits: rateLimitsData(input.rateLimits ?? null),
          },
        }),
      (identity) => ({
        action: 'createIdentity',
        target: { type: 'Identity', id: identity.id },
        summary: sent(input, ['externalId', 'name', 'metadata', 'credits', 'rateLimits']),
      }),
    ),
  );
}

export interface UpdateIdentityInput {
  id: string;
  externalId?: string | undefined;
  name?: string | null;
  metadata?: unknown;
  /** null removes the shared credits; a value replaces them (and voids every instance's reservations). */
  credits?: CreditsInput | null;
  /** Replaces the shared limits; null or [] removes them. */
  rateLimits?: RateLimitInput[] | null;
}

/** Changes the given fields; every key of the identity answers with the change before this returns. */
export async function updateIdentity(ctx: MerchantContext, input: UpdateIdentityInput): Promise<Identity> {
  const current = await findIdentity(ctx, input.id);
  if (!current) throw new NotFoundError('Identity', input.id);
  const { id } = current;
  return withExternalIdCheck(input.externalId ?? '', () =>
    recorded(
      ctx,
      (tx) =>
        tx.identity.update({
          where: { id },
          data: {
            ...(input.externalId !== undefined ? { externalId: input.externalId } : {}),
            ...(input.name !== undefined ? { name: input.name } : {}),
            ...(input.metadata !== undefined ? { metadata: metadataData(input.metadata) } : {}),
            ...(input.credits !== undefined
              ? { ...creditsData(input.credits, clockOf(ctx)), creditsEpoch: { increment: 1 } }
              : {}),
            ...(input.rateLimits !== undefined ? { rateLimits: rateLimitsData(input.rateLimits) } : {}),
          },
        }),
      () => ({
        action: 'updateIdentity',
        target: { type: 'Identity', id },
        summary: edited(
          current,
          input,
          ['externalId', 'name', 'metadata', 'credits', 'rateLimits'],
          ['externalId', 'name'],
        ),
      }),
      () => ({ identityIds: [id] }),
    ),
  );
}

/**
 * Deletes an identity. Keys that are not revoked and belong to it make this an IdentityInUseError,
 * unless `detachKeys`: then they stay, belonging to no identity. Revoked keys let go of it either way.
 */
export async function deleteIdentity(ctx: MerchantContext, id: string, detachKeys: boolean): Promise<Identity> {
  const current = await findIdentity(ctx, id);
  if (!current) throw new NotFoundError('Identity', id);
  return recorded(
    ctx,
    async (tx) => {
      // Held against keys being given it meanwhile (they hold it FOR SHARE).
      await tx.$queryRaw`SELECT id FROM identities WHERE id = ${current.id}::uuid FOR UPDATE`;
      const inUse = await tx.apiKey.count({ where: { identityId: current.id, revokedAt: null } });
      if (inUse > 0 && !detachKeys) throw new IdentityInUseError(id, inUse);
      await tx.apiKey.updateMany({ where: { identityId: current.id }, data: { identityId: null } });
      return tx.identity.delete({ where: { id: current.id } });
    },
    (identity) => ({
      action: 'deleteIdentity',
      target: { type: 'Identity', id: identity.id },
      summary: { externalId: identity.externalId, name: identity.name, detachKeys },
    }),
    () => ({ identityIds: [current.id] }),
  );
}

/**
 * The local id of the merchant's identity with this global id, held (FOR SHARE) until the
 * transaction ends so that it is not deleted meanwhile; null for null. Missing or foreign: NotFound.
 */
export async function lockIdentity(tx: Transaction, merchantId: string, id: string | null): Promise<string | null> {
  if (id === null) return null;
  const local = localId(id, 'Identity');
  const found = local
    ? await tx.$queryRaw<{ id: string }[]>`
        SELECT id::text AS id FROM identities WHERE id = ${local}::uuid AND merchant_id = ${merchantId} FOR SHARE`
    : [];
  if (found.length === 0) throw new NotFoundError('Identity', id);
  return local;
}

/** A key's identity, batched: the keys of one page load theirs in one statement. */
export async function identityOfKey(ctx: MerchantContext, identityId: string): Promise<Identity | null> {
  const found = await batched(ctx, 'key-identity', identityId, async (ids) => {
    const rows = await ctx.prisma.identity.findMany({ where: { id: { in: ids }, merchantId: ctx.viewer.merchantId } });
    return new Map(rows.map((row) => [row.id, row]));
  });
  return found ?? null;
}

/** How many keys that are not revoked belong to the identity, batched per page of identities. */
export async function identityKeyCount(ctx: MerchantContext, identityId: string): Promise<number> {
  const counted = await batched(ctx, 'identity-keys', identityId, async (ids) => {
    const rows = await ctx.prisma.apiKey.groupBy({
      by: ['identityId'],
      where: { identityId: { in: ids }, merchantId: ctx.viewer.merchantId, revokedAt: null },
      _count: { _all: true },
    });
    return new Map(rows.map((row) => [row.identityId as string, row._count._all]));
  });
  return counted ?? 0;
}

/** A page of an identity's keys, newest first. */
export function listIdentityKeys(ctx: MerchantContext, identityId: string, args: PageArgs, query: ConnectionQuery) {
  return listPage(query, args, ctx.settings.maxPageSize, (page) =>
    ctx.prisma.apiKey.findMany({
      ...page.query,
      where: { AND: [{ identityId, merchantId: ctx.viewer.merchantId }, page.keyset] },
      orderBy: page.orderBy,
    }),
  );
}

async function withExternalIdCheck<T>(externalId: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error)) throw new NameConflictError(externalId, 'identity');
    throw error;
  }
}

function metadataData(metadata: unknown) {
  return metadata === null || metadata === undefined ? Prisma.DbNull : (metadata as Prisma.InputJsonValue);
}
