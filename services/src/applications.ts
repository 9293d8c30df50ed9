// Applications: every write to one. Names are unique per merchant ignoring
// case and spacing (a unique index on the normalised name), so a conflict is
// the database's answer, turned into NameConflictError.
import { localId, normalizeName } from '@keygate/core';
import { edited, recorded, sent } from './audit.ts';
import { batched } from './batch.ts';
import type { MerchantContext } from './context.ts';
import { NameConflictError, NotFoundError } from './errors.ts';
import { applicationEventData } from './events.ts';
import { escapeLike, listPage, type PageArgs } from './lists.ts';
import type { ConnectionQuery } from './pagination.ts';
import type { Application, Prisma } from './prisma.ts';
import { isUniqueViolation } from './prisma-errors.ts';

/** The caller's application with this global id, or null (foreign and missing ids alike). */
export async function findApplication<Q extends object>(ctx: MerchantContext, id: string, query?: Q) {
  const local = localId(id, 'Application');
  if (!local) return null;
  return ctx.prisma.application.findUnique({
    ...query,
    where: { id_merchantId: { id: local, merchantId: ctx.viewer.merchantId } },
  });
}

export interface ApplicationFilter {
  /** Names containing this text, ignoring case and spacing. */
  search?: string | null;
  enabled?: boolean | null;
}

function applicationWhere(ctx: MerchantContext, filter: ApplicationFilter): Prisma.ApplicationWhereInput {
  return {
    merchantId: ctx.viewer.merchantId,
    ...(filter.search ? { normalizedName: { contains: escapeLike(normalizeName(filter.search)) } } : {}),
    ...(filter.enabled != null ? { enabled: filter.enabled } : {}),
  };
}

/** A page of the merchant's applications, newest first. */
export function listApplications(ctx: MerchantContext, args: ApplicationFilter & PageArgs, query: ConnectionQuery) {
  return listPage(query, args, ctx.settings.maxPageSize, (page) =>
    ctx.prisma.application.findMany({
      ...page.query,
      where: { AND: [applicationWhere(ctx, args), page.keyset] },
      orderBy: page.orderBy,
    }),
  );
}

export function countApplications(ctx: MerchantContext, filter: ApplicationFilter): Promise<number> {
  return ctx.prisma.application.count({ where: applicationWhere(ctx, filter) });
}

async function requireApplicationId(ctx: MerchantContext, id: string): Promise<string> {
  const application = await findApplication(ctx, id, { select: { id: true } });
  if (!application) throw new NotFoundError('Application', id);
  return application.id;
}

export async function createApplication(
  ctx: MerchantContext,
  input: { name: string; description?: string | null },
): Promise<Application> {
  return withNameCheck(input.name, () =>
    recorded(
      ctx,
      (tx) =>
        tx.application.create({
          data: {
            merchantId: ctx.viewer.merchantId,
            name: input.name,
            normalizedName: normalizeName(input.name),
            description: input.description ?? null,
          },
        }),
      (app) => ({
        action: 'createApplication',
        target: { type: 'Application', id: app.id },
        summary: sent(input, ['name', 'description']),
        event: { type: 'APPLICATION_CREATED', data: applicationEventData(app) },
      }),
    ),
  );
}

/** Changes the given fields; undefined ones stay (a null description clears it). */
export async function updateApplication(
  ctx: MerchantContext,
  input: { id: string; name?: string | undefined; description?: string | null },
): Promise<Application> {
  const current = await findApplication(ctx, input.id, { select: { id: true, name: true, description: true } });
  if (!current) throw new NotFoundError('Application', input.id);
  const { id } = current;
  const { name } = input;
  return withNameCheck(name ?? '', () =>
    recorded(
      ctx,
      (tx) =>
        tx.application.update({
          where: { id },
          data: {
            ...(name !== undefined ? { name, normalizedName: normalizeName(name) } : {}),
            ...(input.description !== undefined ? { description: input.description } : {}),
          },
        }),
      (app) => ({
        action: 'updateApplication',
        target: { type: 'Application', id },
        summary: edited(current, input, ['name', 'description']),
        event: { type: 'APPLICATION_UPDATED', data: applicationEventData(app) },
      }),
    ),
  );
}

/** While disabled, none of the application's keys verify; they keep their own status. */
export async function setApplicationEnabled(
  ctx: MerchantContext,
  input: { id: string; enabled: boolean },
): Promise<Application> {
  const id = await requireApplicationId(ctx, input.id);
  return recorded(
    ctx,
    (tx) => tx.application.update({ where: { id }, data: { enabled: input.enabled } }),
    (app) => ({
      action: 'setApplicationEnabled',
      target: { type: 'Application', id },
      summary: { enabled: input.enabled },
      event: {
        type: input.enabled ? 'APPLICATION_ENABLED' : 'APPLICATION_DISABLED',
        data: applicationEventData(app),
      },
    }),
    () => ({ applicationId: id }),
  );
}

async function withNameCheck<T>(name: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error)) throw new NameConflictError(name);
    throw error;
  }
}

/**
 * How many keys an application holds that count against its limit (not revoked), batched: the
 * applications of one page are counted in one statement.
 */
export async function keysInUse(ctx: MerchantContext, applicationId: string): Promise<number> {
  const counted = await batched(ctx, 'keys-in-use', applicationId, async (ids) => {
    const rows = await ctx.prisma.apiKey.groupBy({
      by: ['applicationId'],
      where: { applicationId: { in: ids }, merchantId: ctx.viewer.merchantId, revokedAt: null },
      _count: { _all: true },
    });
    return new Map(rows.map((row) => [row.applicationId, row._count._all]));
  });
  return counted ?? 0;
}
