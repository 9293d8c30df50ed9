// Metering's database side: one statement reserves credits and a share of every rate limit's
// window under the key's row lock (keygate_meter_take, see the add_metering migration), and
// one gives back what an instance no longer needs. The engine that decides from what it holds
// is meter.ts.
import type { MeterStore, TakeResult } from '@keygate/core/engine';
import type { PrismaClient } from '@keygate/services/prisma';

export function createMeterStore(prisma: PrismaClient): MeterStore {
  return {
    async take(keyId, now, credits, limits) {
      const rows = await prisma.$queryRaw<{ taken: TakeResult | null }[]>`
        SELECT keygate_meter_take(${keyId}::uuid, ${new Date(now)}, ${credits === null ? null : JSON.stringify(credits)}::jsonb,
          ${JSON.stringify(limits)}::jsonb) AS taken`;
      return rows[0]?.taken ?? null;
    },
    async giveBack(credits, windows) {
      const starts = windows.map((w) => ({ ...w, start: new Date(w.start).toISOString() }));
      await prisma.$executeRaw`
        WITH credits AS (
          UPDATE api_keys AS k
          SET credits_remaining = k.credits_remaining + r.n, credits_reserved = GREATEST(0, k.credits_reserved - r.n)
          FROM jsonb_to_recordset(${JSON.stringify(credits)}::jsonb) AS r(id uuid, epoch int, n int)
          WHERE k.id = r.id AND k.credits_epoch = r.epoch AND k.credits_remaining IS NOT NULL
          RETURNING 1
        ), windows AS (
          UPDATE rate_limit_windows AS w SET used = GREATEST(0, w.used - r.n)
          FROM jsonb_to_recordset(${JSON.stringify(starts)}::jsonb) AS r(id uuid, name text, start timestamptz, n int)
          WHERE w.key_id = r.id AND w.name = r.name AND w.window_start = r.start
          RETURNING 1
        )
        SELECT (SELECT count(*) FROM credits) + (SELECT count(*) FROM windows)`;
    },
  };
}
