// Verification analytics, read side: counts per hour or day and outcome for one
// key or an application's keys, every bucket of the range present (zero when
// quiet), so a client can chart them as they come. An application's and a
// merchant's counts come from their own hourly rows (application_usage,
// merchant_usage), which the usage flush adds to with key_usage's: a month of
// 1,000 busy keys is 1.4 million key rows, and adding them up took 0.5 s a chart.
import { type UsageGranularity, usageRange } from '@keygate/core';
import { batched } from './batch.ts';
import { BadRequestError } from './errors.ts';
import type { PrismaClient } from './prisma.ts';

export interface UsageBucket {
  start: Date;
  valid: number;
  rateLimited: number;
  usageExceeded: number;
  /** Every other refusal of a known key (revoked, expired, IP denied, …). */
  refused: number;
}

interface Range {
  from: Date;
  to: Date;
  granularity?: UsageGranularity | null;
}

/** The buckets of a range (refused beyond the largest answer). */
function bucketsOf(range: Range) {
  const buckets = usageRange(range.from, range.to, range.granularity ?? 'HOUR');
  if (!buckets.ok) throw badRange(buckets.error);
  return buckets;
}

type Row = { owner: string; start: Date; code: string; count: number };

function fill(
  rows: Row[],
  owners: readonly string[],
  { first, step, count }: { first: number; step: number; count: number },
) {
  const byOwner = new Map<string, UsageBucket[]>();
  for (const owner of owners) {
    byOwner.set(
      owner,
      Array.from({ length: count }, (_, i) => ({
        start: new Date(first + i * step),
        valid: 0,
        rateLimited: 0,
        usageExceeded: 0,
        refused: 0,
      })),
    );
  }
  for (const row of rows) {
    const bucket = byOwner.get(row.owner)?.[Math.round((row.start.getTime() - first) / step)];
    if (!bucket) continue;
    if (row.code === 'VALID') bucket.valid += row.count;
    else if (row.code === 'RATE_LIMITED') bucket.rateLimited += row.count;
    else if (row.code === 'USAGE_EXCEEDED') bucket.usageExceeded += row.count;
    else bucket.refused += row.count;
  }
  return byOwner;
}

/** An application's keys together: every bucket of the range. */
export async function applicationUsage(prisma: PrismaClient, applicationId: string, range: Range) {
  const buckets = bucketsOf(range);
  const rows = await prisma.$queryRaw<Row[]>`
    SELECT ${applicationId} AS owner,
      date_trunc(${buckets.unit}, u.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start, u.code, sum(u.count)::int AS count
    FROM application_usage u
    WHERE u.application_id = ${applicationId}::uuid AND u.hour >= ${new Date(buckets.first)} AND u.hour < ${range.to}
    GROUP BY 2, 3`;
  return fill(rows, [applicationId], buckets).get(applicationId)!;
}

/** An identity's keys together (those that belong to it now, of every application): every bucket of the range. */
export async function identityUsage(prisma: PrismaClient, identityId: string, range: Range) {
  const buckets = bucketsOf(range);
  const rows = await prisma.$queryRaw<Row[]>`
    SELECT ${identityId} AS owner,
      date_trunc(${buckets.unit}, u.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start, u.code, sum(u.count)::int AS count
    FROM key_usage u JOIN api_keys k ON k.id = u.key_id
    WHERE k.identity_id = ${identityId}::uuid AND u.hour >= ${new Date(buckets.first)} AND u.hour < ${range.to}
    GROUP BY 2, 3`;
  return fill(rows, [identityId], buckets).get(identityId)!;
}

/** Several keys' buckets in one statement. */
export async function keysUsage(prisma: PrismaClient, keyIds: readonly string[], range: Range) {
  const buckets = bucketsOf(range);
  const rows = await prisma.$queryRaw<Row[]>`
    SELECT u.key_id::text AS owner,
      date_trunc(${buckets.unit}, u.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start, u.code, sum(u.count)::int AS count
    FROM key_usage u
    WHERE u.key_id = ANY(${[...keyIds]}::uuid[]) AND u.hour >= ${new Date(buckets.first)} AND u.hour < ${range.to}
    GROUP BY 1, 2, 3`;
  return fill(rows, keyIds, buckets);
}

/**
 * One key's buckets, batched: the keys of one page (every ApiKey.usage of one request with the
 * same range) are read in one statement.
 */
export async function keyUsage(ctx: { prisma: PrismaClient }, keyId: string, range: Range): Promise<UsageBucket[]> {
  bucketsOf(range); // a bad range is this field's own error, at once
  const question = `usage|${range.from.getTime()}|${range.to.getTime()}|${range.granularity ?? 'HOUR'}`;
  return (await batched(ctx, question, keyId, (ids) => keysUsage(ctx.prisma, ids, range)))!;
}

function badRange(message: string): BadRequestError {
  return new BadRequestError(`usage: ${message}`);
}

/** Every key of a merchant together: every bucket of the range. */
export async function merchantUsage(prisma: PrismaClient, merchantId: string, range: Range) {
  const buckets = bucketsOf(range);
  const rows = await prisma.$queryRaw<Row[]>`
    SELECT ${merchantId} AS owner,
      date_trunc(${buckets.unit}, u.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start, u.code, sum(u.count)::int AS count
    FROM merchant_usage u
    WHERE u.merchant_id = ${merchantId} AND u.hour >= ${new Date(buckets.first)} AND u.hour < ${range.to}
    GROUP BY 2, 3`;
  return fill(rows, [merchantId], buckets).get(merchantId)!;
}

/** Refused verifications of a merchant's keys in a range, by reason, the most frequent first. */
export async function refusalReasons(
  prisma: PrismaClient,
  merchantId: string,
  range: { from: Date; to: Date },
): Promise<{ code: string; count: number }[]> {
  bucketsOf({ ...range, granularity: 'DAY' }); // the same bounds as usage: at most 400 days
  return prisma.$queryRaw<{ code: string; count: number }[]>`
    SELECT u.code, sum(u.count)::int AS count
    FROM merchant_usage u
    WHERE u.merchant_id = ${merchantId} AND u.code <> 'VALID' AND u.hour >= ${range.from} AND u.hour < ${range.to}
    GROUP BY 1 ORDER BY 2 DESC, 1`;
}
