// The buckets of a usage answer (ApiKey.usage, Application.usage): one per hour or day of
// [from, to), aligned to UTC. One rule for the answer itself and for what it costs.
export type UsageGranularity = 'HOUR' | 'DAY';

export const USAGE_STEP_MS: Record<UsageGranularity, number> = { HOUR: 3_600_000, DAY: 86_400_000 };
/** Most buckets one answer holds: a month of hours, a year and a month of days. */
export const MAX_USAGE_BUCKETS: Record<UsageGranularity, number> = { HOUR: 31 * 24, DAY: 400 };

export type UsageRange =
  | { ok: true; first: number; step: number; count: number; unit: 'hour' | 'day' }
  | { ok: false; error: string };

export function usageRange(from: Date, to: Date, granularity: UsageGranularity = 'HOUR'): UsageRange {
  if (!(to > from)) return { ok: false, error: '`to` must be after `from`' };
  const step = USAGE_STEP_MS[granularity];
  const first = Math.floor(from.getTime() / step) * step;
  const count = Math.ceil((to.getTime() - first) / step);
  if (count > MAX_USAGE_BUCKETS[granularity]) {
    return { ok: false, error: `at most ${MAX_USAGE_BUCKETS[granularity]} ${granularity.toLowerCase()}s per request` };
  }
  return { ok: true, first, step, count, unit: granularity === 'HOUR' ? 'hour' : 'day' };
}
