// Roles: named sets of scopes per merchant, given to keys. A key's effective scopes are its own
// plus its roles' (the database function keygate_load_key joins them), so editing a role changes
// every key that has it: the change is announced by role, and every cache drops those keys.
//
// A role never grants nothing (at least one scope) and cannot be deleted while a key that is not
// revoked has it: either would leave keys whose only narrowing came from the role with none at
// all (a key without scopes may do everything its access level allows).
import { globalId, localId, normalizeName } from '@keygate/core';
import { edited, recorded, sent, type Transaction } from './audit.ts';
import { batched } from './batch.ts';
import type { MerchantContext } from './context.ts';
import { NameConflictError, NotFoundError, RoleInUseError, ValidationError } from './errors.ts';
import { escapeLike, listPage, type PageArgs } from './lists.ts';
import type { ConnectionQuery } from './pagination.ts';
import { enforceRoleScopes } from './policies.ts';
import type { Prisma, Role } from './prisma.ts';
import { isUniqueViolation } from './prisma-errors.ts';

/** Most roles one merchant may define. */
export const MAX_ROLES_PER_MERCHANT = 1000;
/** Most roles one key may have. */
export const MAX_ROLES_PER_KEY = 20;

/** The caller's role with this global id, or null (foreign and missing ids alike). */
export async function findRole<Q extends object>(ctx: MerchantContext, id: string, query?: Q) {
  const local = localId(id, 'Role');
  if (!local) return null;
  return ctx.prisma.role.findUnique({
    ...query,
    where: { id_merchantId: { id: local, merchantId: ctx.viewer.merchantId } },
  });
}

export interface RoleFilter {
  /** Names containing this text, ignoring case and spacing. */
  search?: string | null;
}

function roleWhere(ctx: MerchantContext, filter: RoleFilter): Prisma.RoleWhereInput {
  return {
    merchantId: ctx.viewer.merchantId,
    ...(filter.search ? { normalizedName: { contains: escapeLike(normalizeName(filter.search)) } } : {}),
  };
}

/** A page of the merchant's roles, newest first. */
export function listRoles(ctx: MerchantContext, args: RoleFilter & PageArgs, query: ConnectionQuery) {
  return listPage(query, args, ctx.settings.maxPageSize, (page) =>
    ctx.prisma.role.findMany({
      ...page.query,
      where: { AND: [roleWhere(ctx, args), page.keyset] },
      orderBy: page.orderBy,
    }),
  );
}

export function countRoles(ctx: MerchantContext, filter: RoleFilter): Promise<number> {
  return ctx.prisma.role.count({ where: roleWhere(ctx, filter) });
}

export interface CreateRoleInput {
  name: string;
  description?: string | null;
  scopes: string[];
}

export async function createRole(ctx: MerchantContext, input: CreateRoleInput): Promise<Role> {
  const { merchantId } = ctx.viewer;
  requireScopes(input.scopes);
  return withNameCheck(input.name, () =>
    recorded(
      ctx,
      async (tx) => {
        // The merchant's row serialises creations, so the count cannot be overtaken.
        await tx.$queryRaw`SELECT id FROM merchants WHERE id = ${merchantId} FOR UPDATE`;
        const held = await tx.role.count({ where: { merchantId } });
        if (held >= MAX_ROLES_PER_MERCHANT) {
          throw new ValidationError([
            {
              path: ['input'],
              message: `a merchant may have at most ${MAX_ROLES_PER_MERCHANT} roles; delete one first`,
            },
          ]);
        }
        return tx.role.create({
          data: {
            merchantId,
            name: input.name,
            normalizedName: normalizeName(input.name),
            description: input.description ?? null,
            scopes: input.scopes,
          },
        });
      },
      (role) => ({
        action: 'createRole',
        target: { type: 'Role', id: role.id },
        summary: sent(input, ['name', 'description', 'scopes']),
      }),
    ),
  );
}

export interface UpdateRoleInput {
  id: string;
  name?: string | undefined;
  description?: string | null;
  scopes?: string[] | undefined;
}

/** Changes the given fields; new scopes reach every key with the role before this returns. */
export async function updateRole(ctx: MerchantContext, input: UpdateRoleInput): Promise<Role> {
  const current = await findRole(ctx, input.id);
  if (!current) throw new NotFoundError('Role', input.id);
  if (input.scopes !== undefined) requireScopes(input.scopes);
  const { id } = current;
  return withNameCheck(input.name ?? '', () =>
    recorded(
      ctx,
      (tx) => {
        const write = () =>
          tx.role.update({
            where: { id },
            data: {
              ...(input.name !== undefined ? { name: input.name, normalizedName: normalizeName(input.name) } : {}),
              ...(input.description !== undefined ? { description: input.description } : {}),
              ...(input.scopes !== undefined ? { scopes: input.scopes } : {}),
            },
          });
        // New scopes reach every key with the role: the key policy judges them as it judges a key's own.
        return input.scopes === undefined ? write() : enforceRoleScopes(ctx, tx, id, input.scopes, write);
      },
      () => ({
        action: 'updateRole',
        target: { type: 'Role', id },
        summary: edited(current, input, ['name', 'description', 'scopes']),
      }),
      () => ({ roleIds: [id] }),
    ),
  );
}

/**
 * Deletes a role no key uses any more (revoked keys lose it with it). A key being given the role
 * at the same moment holds the role's row (FOR SHARE), so one of the two waits for the other.
 */
export async function deleteRole(ctx: MerchantContext, id: string): Promise<Role> {
  const current = await findRole(ctx, id);
  if (!current) throw new NotFoundError('Role', id);
  return recorded(
    ctx,
    async (tx) => {
      await tx.$queryRaw`SELECT id FROM roles WHERE id = ${current.id}::uuid FOR UPDATE`;
      const [row] = await tx.$queryRaw<{ count: number }[]>`
        SELECT count(*)::int AS count FROM key_roles kr JOIN api_keys k ON k.id = kr.key_id
        WHERE kr.role_id = ${current.id}::uuid AND k.revoked_at IS NULL`;
      if ((row?.count ?? 0) > 0) throw new RoleInUseError(id, row!.count);
      return tx.role.delete({ where: { id: current.id } });
    },
    (role) => ({
      action: 'deleteRole',
      target: { type: 'Role', id: role.id },
      summary: { name: role.name, scopes: role.scopes },
    }),
    () => ({ roleIds: [current.id] }),
  );
}

function requireScopes(scopes: readonly string[]): void {
  if (scopes.length === 0) {
    throw new ValidationError([
      { path: ['input', 'scopes'], message: 'a role grants at least one scope (a key without scopes is not narrowed)' },
    ]);
  }
}

async function withNameCheck<T>(name: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error)) throw new NameConflictError(name, 'role');
    throw error;
  }
}

/**
 * The local ids of the merchant's roles with these global ids, each once, held (FOR SHARE) until
 * the transaction ends so that none is deleted meanwhile. A missing or foreign id is NotFound.
 */
export async function lockRoles(
  tx: Transaction,
  merchantId: string,
  globalIds: readonly string[],
  field: string[],
): Promise<string[]> {
  const unique = [...new Set(globalIds)];
  if (unique.length > MAX_ROLES_PER_KEY) {
    throw new ValidationError([{ path: field, message: `a key may have at most ${MAX_ROLES_PER_KEY} roles` }]);
  }
  const ids = unique.map((id) => ({ id, local: localId(id, 'Role') }));
  const missing = ids.find((entry) => entry.local === null);
  if (missing) throw new NotFoundError('Role', missing.id);
  const locals = ids.map((entry) => entry.local as string);
  if (locals.length === 0) return [];
  const found = await tx.$queryRaw<{ id: string }[]>`
    SELECT id::text AS id FROM roles WHERE id = ANY(${locals}::uuid[]) AND merchant_id = ${merchantId} FOR SHARE`;
  const present = new Set(found.map((row) => row.id));
  const absent = ids.find((entry) => !present.has(entry.local as string));
  if (absent) throw new NotFoundError('Role', absent.id);
  return locals;
}

/** Gives a key exactly these roles (local ids, locked by lockRoles). */
export async function setKeyRoles(tx: Transaction, merchantId: string, keyId: string, roleIds: readonly string[]) {
  await tx.keyRole.deleteMany({ where: { keyId } });
  if (roleIds.length > 0) {
    await tx.keyRole.createMany({ data: roleIds.map((roleId) => ({ keyId, roleId, merchantId })) });
  }
}

/** A key's roles, batched: the keys of one page load theirs in one statement. */
export async function rolesOfKey(ctx: MerchantContext, keyId: string): Promise<Role[]> {
  const roles = await batched(ctx, 'key-roles', keyId, async (keyIds) => {
    const rows = await ctx.prisma.keyRole.findMany({
      where: { keyId: { in: keyIds }, merchantId: ctx.viewer.merchantId },
      include: { role: true },
      orderBy: { roleId: 'asc' },
    });
    const byKey = new Map<string, Role[]>();
    for (const row of rows) byKey.set(row.keyId, [...(byKey.get(row.keyId) ?? []), row.role]);
    return byKey;
  });
  return roles ?? [];
}

/** How many keys that are not revoked have the role, batched per page of roles. */
export async function roleKeyCount(ctx: MerchantContext, roleId: string): Promise<number> {
  const counted = await batched(ctx, 'role-keys', roleId, async (roleIds) => {
    const rows = await ctx.prisma.keyRole.groupBy({
      by: ['roleId'],
      where: { roleId: { in: roleIds }, merchantId: ctx.viewer.merchantId, key: { revokedAt: null } },
      _count: { _all: true },
    });
    return new Map(rows.map((row) => [row.roleId, row._count._all]));
  });
  return counted ?? 0;
}

/** Role ids as they appear in audit summaries. */
export const roleGlobalIds = (ids: readonly string[]) => ids.map((id) => globalId('Role', id));
