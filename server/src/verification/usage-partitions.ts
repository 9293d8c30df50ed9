// The day partitions of the hourly tables (key_usage, key_observations; see the migration
// partition_usage_by_day). Kept by every instance, one at a time (an advisory lock), at start-up
// and hourly:
//   - each day from today to AHEAD_DAYS ahead gets its partition before its first row;
//   - rows that landed in the DEFAULT partition (a day without one: a clock far off, or
//     maintenance that could not run) move to their day's new partition;
//   - a day whose every hour is past the retention is dropped whole: no row deletes, no bloat.
// So a day is kept for at least the retention and at most one day more. The same on the embedded
// database: the migrations make identical tables on both.
import type { PrismaClient } from '@keygate/services/prisma';

export const PARTITIONED_TABLES = ['key_usage', 'key_observations'] as const;
const DAY_MS = 86_400_000;
/** Days after today whose partitions exist ahead of their first row. */
export const AHEAD_DAYS = 2;
/** Serialises maintenance across instances (any fixed number; Prisma's migrations use another). */
const LOCK = 7_246_117_001;

export interface PartitionChanges {
  created: string[];
  dropped: string[];
}

export async function maintainPartitions(
  prisma: PrismaClient,
  now: number,
  retentionDays: number,
): Promise<PartitionChanges> {
  const oldest = new Date(now - retentionDays * DAY_MS);
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const changes: PartitionChanges = { created: [], dropped: [] };
  await prisma.$transaction(
    async (tx) => {
      await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${LOCK})`);
      // Dropping or attaching a partition locks its table briefly; never queue writes long behind a
      // query that holds it (the next hour tries again).
      await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = '2s'`);
      for (const table of PARTITIONED_TABLES) {
        // Rows in the default partition past the retention: deleted (there are few, if any).
        await tx.$executeRawUnsafe(`DELETE FROM ${table}_default WHERE hour < $1`, oldest);
        const waiting = await tx.$queryRawUnsafe<{ day: string }[]>(
          `SELECT DISTINCT to_char((hour AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day FROM ${table}_default`,
        );
        const days = new Set(waiting.map((row) => row.day));
        for (let i = 0; i <= AHEAD_DAYS; i++) days.add(new Date(today + i * DAY_MS).toISOString().slice(0, 10));
        for (const day of [...days].sort()) {
          const [{ created }] = await tx.$queryRawUnsafe<[{ created: boolean }]>(
            'SELECT keygate_day_partition($1, $2::date) AS created',
            table,
            day,
          );
          if (created) changes.created.push(`${table}_p${day.replaceAll('-', '')}`);
        }
        const partitions = await tx.$queryRawUnsafe<{ name: string }[]>(
          `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = $1::regclass ORDER BY 1`,
          table,
        );
        const pattern = new RegExp(`^${table}_p(\\d{4})(\\d{2})(\\d{2})$`);
        for (const { name } of partitions) {
          const match = pattern.exec(name);
          if (!match) continue;
          const end = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) + DAY_MS;
          if (end <= oldest.getTime()) {
            await tx.$executeRawUnsafe(`DROP TABLE "${name}"`);
            changes.dropped.push(name);
          }
        }
      }
    },
    { timeout: 60_000, maxWait: 10_000 },
  );
  return changes;
}
