// What verification records without a database write per request: each key's
// newest use (last-used time and address), how often it was verified per hour
// and outcome, and its refused verifications. All of it is kept in memory and
// written in ONE statement per flush interval (and once more when the server
// stops), whatever the traffic; what is older than the retention is pruned hourly (the hourly
// counts by dropping whole day partitions).
import type { VerifyCode, VerifyRequest } from '@keygate/core';
import { ADDRESSES_KEPT, REFUSALS_KEPT, UsageBatch, type UsageReport, type UsageSink } from '@keygate/core/engine';
import type { PrismaClient } from '@keygate/services/prisma';
import { split } from './meter-store.ts';
import { maintainPartitions, type PartitionChanges } from './usage-partitions.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface UsageOptions {
  /** How often to write. */
  intervalMs: number;
  /** How long hourly counts are kept (refusals: the newest REFUSALS_KEPT per key). */
  retentionDays: number;
  onError?: (error: unknown) => void;
}

export class UsageRecorder implements UsageSink {
  private readonly batch = new UsageBatch();
  private timer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly onError: (error: unknown) => void;
  /** Counted for /metrics. */
  readonly stats = { flushes: 0, failures: 0 };

  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: UsageOptions,
  ) {
    this.onError = options.onError ?? ((error) => console.error('keygate: usage flush failed', error));
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.intervalMs);
    this.timer.unref();
    this.pruneTimer ??= setInterval(() => void this.prune().catch(this.onError), HOUR_MS);
    this.pruneTimer.unref();
  }

  /** One verification of a known key, whatever its outcome. */
  record(keyId: string, code: VerifyCode, ip: string | null, at: number, request?: VerifyRequest): void {
    this.batch.record(keyId, code, ip, at, request);
  }

  /** Credits spent from a reservation of the given epoch (an older epoch's spending no longer counts). */
  spend(keyId: string, epoch: number, n: number): void {
    this.batch.spend(keyId, epoch, n);
  }

  /** Writes what has been recorded so far; concurrent calls run one after another. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.pruneTimer);
    this.timer = undefined;
    this.pruneTimer = undefined;
    await this.flush();
  }

  /**
   * The hourly tables' day partitions: today's and the next days' made ahead, days past the
   * retention dropped whole (see usage-partitions.ts). At start-up and with every prune.
   */
  partitions(now = Date.now()): Promise<PartitionChanges> {
    return maintainPartitions(this.prisma, now, this.options.retentionDays);
  }

  /** Drops hourly counts past the retention, all but each key's newest refusals, and ended rate-limit windows. */
  async prune(now = Date.now()): Promise<void> {
    await this.partitions(now);
    // The per-application and per-merchant counts keep what key_usage keeps: a day goes once every
    // hour of it is past the retention (as its day partition is dropped).
    const oldestDay = new Date(Math.floor((now - this.options.retentionDays * DAY_MS) / DAY_MS) * DAY_MS);
    await this.prisma.$executeRaw`DELETE FROM application_usage WHERE hour < ${oldestDay}`;
    await this.prisma.$executeRaw`DELETE FROM merchant_usage WHERE hour < ${oldestDay}`;
    await this.prisma.$executeRaw`DELETE FROM rate_limit_windows WHERE window_end < ${new Date(now - HOUR_MS)}`;
    await this.prisma
      .$executeRaw`DELETE FROM identity_rate_limit_windows WHERE window_end < ${new Date(now - HOUR_MS)}`;
    await this.prisma.$executeRaw`
      DELETE FROM key_refusals WHERE id IN (
        SELECT id FROM (
          SELECT id, row_number() OVER (PARTITION BY key_id ORDER BY at DESC) AS n FROM key_refusals
        ) AS ranked WHERE n > ${REFUSALS_KEPT})`;
    // A verifier silent for a week has long since stopped; a new one reports under a new id.
    await this.prisma
      .$executeRaw`DELETE FROM verifier_usage_reporters WHERE updated_at < ${new Date(now - 7 * 24 * HOUR_MS)}`;
  }

  private async write(): Promise<void> {
    const taken = await this.batch.takeInTurns();
    if (taken === null) return;
    try {
      await writeUsage(this.prisma, taken.report);
      this.stats.flushes++;
    } catch (error) {
      this.stats.failures++;
      taken.putBack();
      this.onError(error);
    }
  }
}

/** Distinct scopes one key's hour keeps (a verification names at most MAX_SCOPES). */
const MAX_SCOPES_OBSERVED = 200;

/**
 * Writes one batch of usage in ONE statement: this instance's, or one an embedded verifier sent.
 * Last-used times never move backwards; spent credits leave the reserved count (of their epoch
 * only: a refill or a change reset it); counts of the same key, hour and outcome add up; rows of
 * keys that no longer exist are skipped.
 */
export async function writeUsage(prisma: PrismaClient, report: UsageReport): Promise<'written' | 'written before'> {
  const { counts, refusals } = report;
  // Credits spent from identities' shared pools are named "identity:<id>" (meter.ts).
  const [uses, shared] = split(report.uses);
  // A numbered report (an embedded verifier's) is written only if its number is newer than the
  // newest written for its reporter: one sent again after its answer was lost changes nothing.
  // A second copy racing the first waits on the reporter's row, then finds it written.
  // PostgreSQL runs every data-modifying WITH to completion whether or not the query reads it.
  const reporter = report.reporter?.id ?? null;
  const seq = report.reporter?.seq ?? null;
  const usesJson = JSON.stringify(uses);
  // Only keys that spent credits touch their own row.
  const spentJson = JSON.stringify(uses.filter((u) => u.spent > 0));
  const written = await prisma.$queryRaw<{ n: bigint }[]>`
        WITH fresh AS (
          INSERT INTO verifier_usage_reporters AS r (reporter, seq, updated_at)
          SELECT ${reporter}::text, ${seq}::int, now() WHERE ${reporter}::text IS NOT NULL
          ON CONFLICT (reporter) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at
            WHERE r.seq < excluded.seq
          RETURNING 1
        ), go AS (
          SELECT 1 FROM fresh UNION ALL SELECT 1 WHERE ${reporter}::text IS NULL
        ), hourly AS (
          SELECT c.key_id, k.application_id, k.merchant_id, c.hour, c.code, sum(c.count) AS count
          FROM jsonb_to_recordset(${JSON.stringify(counts)}::jsonb) AS c(key_id uuid, hour timestamptz, code text, count int)
          JOIN api_keys k ON k.id = c.key_id
          WHERE EXISTS (SELECT 1 FROM go)
          GROUP BY c.key_id, k.application_id, k.merchant_id, c.hour, c.code
        ), by_application AS (
          -- The same counts added up per application and per merchant, so their charts read one
          -- row per hour and outcome. Every flush of a merchant's usage adds to the same few rows:
          -- PostgreSQL runs these WITH statements last one first, so listed first they run last and
          -- hold those rows only until the commit. Each statement here takes its rows in key
          -- order, and the tables in the same order, so two flushes of the same keys wait for each
          -- other: they deadlocked (one failed and was retried) when two took them in hash order.
          INSERT INTO application_usage AS a (application_id, hour, code, count)
          SELECT application_id, hour, code, sum(count) FROM hourly GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
          ON CONFLICT (application_id, hour, code) DO UPDATE SET count = a.count + excluded.count
        ), by_merchant AS (
          INSERT INTO merchant_usage AS m (merchant_id, hour, code, count)
          SELECT merchant_id, hour, code, sum(count) FROM hourly GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
          ON CONFLICT (merchant_id, hour, code) DO UPDATE SET count = m.count + excluded.count
        ), used AS (
          -- Last-used rows are narrow and apart from api_keys (one index, room on their page), so
          -- this rewrite is cheap; keys deleted meanwhile are skipped. One row per key (the latest),
          -- whatever a report repeats: ON CONFLICT cannot touch a row twice.
          INSERT INTO api_key_last_used AS l (key_id, at, ip)
          SELECT DISTINCT ON (u.id) u.id, u.at, u.ip
          FROM jsonb_to_recordset(${usesJson}::jsonb) AS u(id uuid, at timestamptz, ip text)
          WHERE EXISTS (SELECT 1 FROM go) AND u.at IS NOT NULL AND EXISTS (SELECT 1 FROM api_keys k WHERE k.id = u.id)
          ORDER BY u.id, u.at DESC
          ON CONFLICT (key_id) DO UPDATE SET at = excluded.at, ip = excluded.ip WHERE excluded.at > l.at
        ), spent_keys AS (
          -- A key named twice (one epoch) gives back both: UPDATE … FROM applies one row of a join per target.
          UPDATE api_keys AS k SET credits_reserved = GREATEST(0, k.credits_reserved - u.spent)
          FROM (SELECT id, epoch, LEAST(sum(spent), 2147483647)::int AS spent
            FROM jsonb_to_recordset(${spentJson}::jsonb) AS s(id uuid, epoch int, spent int) GROUP BY id, epoch
            ORDER BY id) AS u
          WHERE EXISTS (SELECT 1 FROM go) AND k.id = u.id AND u.spent > 0 AND k.credits_epoch = u.epoch
        ), counted AS (
          INSERT INTO key_usage (key_id, hour, code, count)
          SELECT key_id, hour, code, count FROM hourly ORDER BY 1, 2, 3
          ON CONFLICT (key_id, hour, code) DO UPDATE SET count = key_usage.count + excluded.count
        ), refused AS (
          INSERT INTO key_refusals (id, key_id, at, code, client_ip)
          SELECT gen_random_uuid(), r.key_id, r.at, r.code, r.ip
          FROM jsonb_to_recordset(${JSON.stringify(refusals)}::jsonb) AS r(key_id uuid, at timestamptz, code text, ip text)
          WHERE EXISTS (SELECT 1 FROM go) AND EXISTS (SELECT 1 FROM api_keys k WHERE k.id = r.key_id)
        ), observed AS (
          INSERT INTO key_observations AS o (key_id, hour, read_count, write_count, scopes, valid_networks, refused_networks)
          SELECT b.key_id, b.hour, b.read, b.write, b.scopes, b.valid_networks, b.refused_networks
          FROM jsonb_to_recordset(${JSON.stringify(oncePerHour(report.observations ?? []))}::jsonb) AS b(key_id uuid, hour timestamptz,
            read int, write int, scopes jsonb, valid_networks jsonb, refused_networks jsonb)
          WHERE EXISTS (SELECT 1 FROM go) AND EXISTS (SELECT 1 FROM api_keys k WHERE k.id = b.key_id)
          ORDER BY b.key_id, b.hour
          ON CONFLICT (key_id, hour) DO UPDATE SET
            read_count = o.read_count + excluded.read_count,
            write_count = o.write_count + excluded.write_count,
            scopes = CASE WHEN excluded.scopes = '{}' THEN o.scopes
              ELSE keygate_add_counts(o.scopes, excluded.scopes, ${MAX_SCOPES_OBSERVED}) END,
            valid_networks = CASE WHEN excluded.valid_networks = '{}' THEN o.valid_networks
              ELSE keygate_add_counts(o.valid_networks, excluded.valid_networks, ${ADDRESSES_KEPT}) END,
            refused_networks = CASE WHEN excluded.refused_networks = '{}' THEN o.refused_networks
              ELSE keygate_add_counts(o.refused_networks, excluded.refused_networks, ${ADDRESSES_KEPT}) END
        ), spent AS (
          UPDATE identities AS i SET credits_reserved = GREATEST(0, i.credits_reserved - u.spent)
          FROM (SELECT id, epoch, LEAST(sum(spent), 2147483647)::int AS spent
            FROM jsonb_to_recordset(${JSON.stringify(shared)}::jsonb) AS s(id uuid, epoch int, spent int) GROUP BY id, epoch
            ORDER BY id) AS u
          WHERE EXISTS (SELECT 1 FROM go) AND i.id = u.id AND u.spent > 0 AND i.credits_epoch = u.epoch
        )
        SELECT (SELECT count(*) FROM go) AS n`;
  return Number(written[0]?.n ?? 0) > 0 ? 'written' : 'written before';
}

type Observation = NonNullable<UsageReport['observations']>[number];

/**
 * One observation per key and hour, as the upsert needs (it cannot touch a row twice in one
 * statement). A report names a key's hour twice when the clock stepped back over the hour's start
 * between two verifications, or when a verifier sends the hour in two spellings; that failed the
 * whole report, and a failed report is retried as it was, so no usage was written again.
 */
export function oncePerHour(observations: Observation[]): Observation[] {
  const byHour = new Map<string, Observation>();
  let repeated = false;
  for (const observation of observations) {
    const id = `${observation.key_id} ${Date.parse(observation.hour)}`;
    const first = byHour.get(id);
    if (first === undefined) {
      byHour.set(id, observation);
      continue;
    }
    repeated = true;
    byHour.set(id, {
      ...first,
      read: first.read + observation.read,
      write: first.write + observation.write,
      scopes: addCounts(first.scopes, observation.scopes, MAX_SCOPES_OBSERVED),
      valid_networks: addCounts(first.valid_networks, observation.valid_networks, ADDRESSES_KEPT),
      refused_networks: addCounts(first.refused_networks, observation.refused_networks, ADDRESSES_KEPT),
    });
  }
  return repeated ? [...byHour.values()] : observations;
}

/**
 * Two name → count maps added up, the `keep` largest kept (as keygate_add_counts does in SQL).
 * A Map, not an object: a scope or address is any string, and `constructor` or `__proto__` read
 * from a plain object is an inherited member, not a count.
 */
function addCounts(a: Record<string, number>, b: Record<string, number>, keep: number): Record<string, number> {
  const sum = new Map<string, number>(Object.entries(a));
  for (const [name, count] of Object.entries(b)) sum.set(name, (sum.get(name) ?? 0) + count);
  const entries = [...sum];
  if (entries.length > keep) {
    entries.sort(([x, m], [y, n]) => n - m || (x < y ? -1 : x > y ? 1 : 0));
    entries.length = keep;
  }
  return Object.fromEntries(entries);
}
