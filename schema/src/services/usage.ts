// Verification analytics, read side: counts per hour or day and outcome for one
// key or an application's keys, every bucket of the range present (zero when
// quiet), so a client can chart them as they come.
import { GraphQLError } from 'graphql';
import type { PrismaClient } from '../prisma.ts';

export type UsageGranularity = 'HOUR' | 'DAY';

export interface UsageBucket {
  start: Date;
  valid: number;
  rateLimited: number;
  usageExceeded: number;
  /** Every other refusal of a known key (revoked, expired, IP denied, …). */
  refused: number;
}

const STEP_MS: Record<UsageGranularity, number> = { HOUR: 3_600_000, DAY: 86_400_000 };
/** Most buckets one answer holds: a month of hours, a year and a month of days. */
const MAX_BUCKETS: Record<UsageGranularity, number> = { HOUR: 31 * 24, DAY: 400 };

export async function usageBuckets(
  prisma: PrismaClient,
  scope: { keyId: string } | { applicationId: string },
  range: { from: Date; to: Date; granularity?: UsageGranularity | null },
): Promise<UsageBucket[]> {
  const { from, to } = range;
  const granularity = range.granularity ?? 'HOUR';
  if (!(to > from)) throw badRange('`to` must be after `from`');
  const step = STEP_MS[granularity];
  const first = Math.floor(from.getTime() / step) * step;
  const count = Math.ceil((to.getTime() - first) / step);
  if (count > MAX_BUCKETS[granularity]) {
    throw badRange(`at most ${MAX_BUCKETS[granularity]} ${granularity.toLowerCase()}s per request`);
  }
  const unit = granularity === 'HOUR' ? 'hour' : 'day';
  const keyId = 'keyId' in scope ? scope.keyId : null;
  const applicationId = 'applicationId' in scope ? scope.applicationId : null;
  const rows = await prisma.$queryRaw<{ start: Date; code: string; count: number }[]>`
    SELECT date_trunc(${unit}, u.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start, u.code, sum(u.count)::int AS count
    FROM key_usage u JOIN api_keys k ON k.id = u.key_id
    WHERE (k.id = ${keyId}::uuid OR k.application_id = ${applicationId}::uuid)
      AND u.hour >= ${new Date(first)} AND u.hour < ${to}
    GROUP BY 1, 2`;
  const buckets = Array.from({ length: count }, (_, i) => ({
    start: new Date(first + i * step),
    valid: 0,
    rateLimited: 0,
    usageExceeded: 0,
    refused: 0,
  }));
  for (const row of rows) {
    const bucket = buckets[Math.round((row.start.getTime() - first) / step)];
    if (!bucket) continue;
    if (row.code === 'VALID') bucket.valid += row.count;
    else if (row.code === 'RATE_LIMITED') bucket.rateLimited += row.count;
    else if (row.code === 'USAGE_EXCEEDED') bucket.usageExceeded += row.count;
    else bucket.refused += row.count;
  }
  return buckets;
}

function badRange(message: string): GraphQLError {
  return new GraphQLError(`usage: ${message}`, { extensions: { code: 'BAD_USER_INPUT' } });
}
