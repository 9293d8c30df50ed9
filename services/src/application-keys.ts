// Application.keys for a whole page of applications in two statements, whatever their size.
//
// Prisma loads a nested `take` by reading every key of every application on the page and
// cutting each list in memory: with 1,000,000 keys (100 per application) a page of 50
// applications with 10 keys each took 62 ms (median). Here PostgreSQL takes at most the page
// size from each application's end of the (application_id, id) index (LATERAL … LIMIT), and
// Prisma then loads just those rows, with the selection the GraphQL query asked for.
//
// Tenant isolation: the application ids are those of applications the caller's merchant loaded,
// and a key always belongs to its application's merchant (the foreign key is on both columns);
// the rows are loaded with the merchant in the condition as well. (The merchant in the index
// condition made PostgreSQL combine two indexes: 76 ms instead of 1.7 ms.)
//
// Resolvers of one page call in within the same tick; a batch per distinct query (the same
// arguments and selection) runs once they all have.

import type { KeyStatusName } from '@keygate/core';
import { batched } from './batch.ts';
import type { MerchantContext } from './context.ts';
import { escapeLike } from './lists.ts';
import type { ConnectionQuery } from './pagination.ts';
import { type ApiKey, Prisma } from './prisma.ts';

export interface KeyFilter {
  statuses?: readonly KeyStatusName[] | null;
  externalId?: string | null;
  search?: string | null;
}

/**
 * A key status as a condition on an api_keys row: the SQL form of @keygate/core's keyStatus
 * (revoked before disabled before expired), held equal to it by test/api/key-status.test.ts.
 */
export function keyStatusSql(status: KeyStatusName, now: Date): Prisma.Sql {
  switch (status) {
    case 'REVOKED':
      return Prisma.sql`(revoked_at IS NOT NULL)`;
    case 'DISABLED':
      return Prisma.sql`(revoked_at IS NULL AND NOT enabled)`;
    case 'EXPIRED':
      return Prisma.sql`(revoked_at IS NULL AND enabled AND expires_at <= ${now})`;
    case 'ACTIVE':
      return Prisma.sql`(revoked_at IS NULL AND enabled AND (expires_at IS NULL OR expires_at > ${now}))`;
  }
}

/** The filters of Application.keys as SQL over api_keys. */
function filterSql(filter: KeyFilter, now: Date): Prisma.Sql {
  const parts: Prisma.Sql[] = [];
  const statuses = [...new Set(filter.statuses ?? [])];
  if (statuses.length > 0) {
    parts.push(
      Prisma.sql`(${Prisma.join(
        statuses.map((status) => keyStatusSql(status, now)),
        ' OR ',
      )})`,
    );
  }
  if (filter.externalId != null) parts.push(Prisma.sql`external_id = ${filter.externalId}`);
  const search = filter.search?.trim();
  if (search) {
    const pattern = escapeLike(search);
    parts.push(Prisma.sql`(name ILIKE ${`%${pattern}%`} ESCAPE '\\' OR prefix LIKE ${`${pattern}%`} ESCAPE '\\')`);
  }
  return parts.length > 0 ? Prisma.sql`AND ${Prisma.join(parts, ' AND ')}` : Prisma.empty;
}

/** A key row as Prisma returns it (every column, camelCase, as the ApiKey model names them). */
const API_KEY_COLUMNS = Prisma.sql`k.id, k.merchant_id AS "merchantId", k.application_id AS "applicationId", k.name,
  k.website_url AS "websiteUrl", k.prefix, k.hash, k.access::text AS access, COALESCE(k.scopes, '{}') AS scopes,
  k.environment::text AS environment, k.expires_at AS "expiresAt", k.revoked_at AS "revokedAt",
  lu.at AS "lastUsedAt", lu.ip AS "lastUsedIp", k.ip_default_action::text AS "ipDefaultAction",
  k.credits_remaining AS "creditsRemaining", k.credits_reserved AS "creditsReserved", k.refill_amount AS "refillAmount",
  k.refill_interval::text AS "refillInterval", k.refill_day AS "refillDay", k.refilled_at AS "refilledAt",
  k.credits_epoch AS "creditsEpoch", k.rate_limits AS "rateLimits", k.enabled, k.metadata, k.external_id AS "externalId",
  k.rolled_from_id AS "rolledFromId", k.created_at AS "createdAt", k.updated_at AS "updatedAt"`;

/** Whether the selection Pothos built loads nothing but the key's own columns. */
function scalarsOnly(selection: { include?: unknown; select?: unknown }): boolean {
  if (selection.select !== undefined) return false;
  return selection.include === undefined || Object.keys(selection.include as object).length === 0;
}

/** One application's page of keys, newest first, loaded with every other application's of this page. */
export function applicationKeys(
  ctx: MerchantContext,
  applicationId: string,
  query: ConnectionQuery,
  filter: KeyFilter,
): Promise<ApiKey[]> {
  const { take, skip: _skip, cursor, ...selection } = query;
  const now = new Date();
  const signature = JSON.stringify(['page', take, cursor?.id ?? null, filter, selection]);
  return batched(ctx, signature, applicationId, async (applicationIds) => {
    const backwards = take < 0;
    const keyset =
      cursor?.id !== undefined
        ? backwards
          ? Prisma.sql`AND id > ${cursor.id}::uuid`
          : Prisma.sql`AND id < ${cursor.id}::uuid`
        : Prisma.empty;
    const page = (columns: Prisma.Sql) => Prisma.sql`
      SELECT ${columns} FROM unnest(${applicationIds}::uuid[]) AS a(id)
      CROSS JOIN LATERAL (
        SELECT * FROM api_keys
        WHERE application_id = a.id ${filterSql(filter, now)} ${keyset}
        ORDER BY id ${backwards ? Prisma.sql`ASC` : Prisma.sql`DESC`}
        LIMIT ${Math.abs(take)}
      ) k LEFT JOIN api_key_last_used lu ON lu.key_id = k.id`;
    // Last used comes with the page's own statement (as `lastUse`, the shape Prisma's include
    // gives), so listing keys with it costs no statement of its own.
    type Used = { lastUsedAt: Date | null; lastUsedIp: string | null };
    const lastUse = (id: string, used: Used) =>
      used.lastUsedAt === null ? null : { keyId: id, at: used.lastUsedAt, ip: used.lastUsedIp };
    let rows: ApiKey[];
    if (scalarsOnly(selection)) {
      // The keys' own columns are all the query asked for: one statement returns the rows.
      const found = await ctx.prisma.$queryRaw<(ApiKey & Used)[]>`
        SELECT * FROM (${page(API_KEY_COLUMNS)}) rows
        WHERE "merchantId" = ${ctx.viewer.merchantId} ORDER BY id DESC`;
      rows = found.map(({ lastUsedAt, lastUsedIp, ...key }) =>
        Object.assign(key, { lastUse: lastUse(key.id, { lastUsedAt, lastUsedIp }) }),
      );
    } else {
      // Relations of the keys were asked for too: Prisma loads the rows with them.
      const ids = await ctx.prisma.$queryRaw<({ id: string } & Used)[]>(
        page(Prisma.sql`k.id, lu.at AS "lastUsedAt", lu.ip AS "lastUsedIp"`),
      );
      const used = new Map(ids.map((row) => [row.id, lastUse(row.id, row)]));
      const found =
        ids.length === 0
          ? []
          : await ctx.prisma.apiKey.findMany({
              ...(selection as object),
              where: { id: { in: ids.map((row) => row.id) }, merchantId: ctx.viewer.merchantId },
              orderBy: { id: 'desc' },
            });
      rows = found.map((key) => Object.assign(key, { lastUse: used.get(key.id) ?? null }));
    }
    const byApplication = new Map<string, ApiKey[]>();
    for (const row of rows) {
      const list = byApplication.get(row.applicationId);
      if (list) list.push(row);
      else byApplication.set(row.applicationId, [row]);
    }
    return byApplication;
  }).then((keys) => keys ?? []);
}

/** How many keys of the application match the filter, counted with the rest of the page's. */
export function applicationKeyCount(ctx: MerchantContext, applicationId: string, filter: KeyFilter): Promise<number> {
  const now = new Date();
  return batched(ctx, JSON.stringify(['count', filter]), applicationId, async (applicationIds) => {
    const rows = await ctx.prisma.$queryRaw<{ application_id: string; count: bigint }[]>`
      SELECT application_id, count(*) AS count FROM api_keys
      WHERE application_id = ANY(${applicationIds}::uuid[]) ${filterSql(filter, now)}
      GROUP BY application_id`;
    return new Map(rows.map((row) => [row.application_id, Number(row.count)]));
  }).then((count) => count ?? 0);
}
