// Metering's database side: one statement reserves credits and a share of every rate limit's
// window under the pool's row lock (keygate_meter_take for a key's own pool, see the add_metering
// migration; keygate_identity_meter_take for an identity's shared one, add_identity_limits), and
// one gives back what an instance no longer needs. The engine that decides from what it holds is
// meter.ts; it names an identity's pool "identity:<id>".
import { IDENTITY, type MeterStore, type TakeResult } from '@keygate/core/engine';
import type { PrismaClient } from '@keygate/services/prisma';

export function createMeterStore(prisma: PrismaClient): MeterStore {
  return {
    async take(poolId, now, credits, limits) {
      const wanted = credits === null ? null : JSON.stringify(credits);
      const rows = poolId.startsWith(IDENTITY)
        ? await prisma.$queryRaw<{ taken: TakeResult | null }[]>`
            SELECT keygate_identity_meter_take(${poolId.slice(IDENTITY.length)}::uuid, ${new Date(now)},
              ${wanted}::jsonb, ${JSON.stringify(limits)}::jsonb) AS taken`
        : await prisma.$queryRaw<{ taken: TakeResult | null }[]>`
            SELECT keygate_meter_take(${poolId}::uuid, ${new Date(now)}, ${wanted}::jsonb,
              ${JSON.stringify(limits)}::jsonb) AS taken`;
      return rows[0]?.taken ?? null;
    },
    async giveBack(credits, windows) {
      const starts = windows.map((w) => ({ ...w, start: new Date(w.start).toISOString() }));
      const [keyCredits, identityCredits] = split(credits);
      const [keyWindows, identityWindows] = split(starts);
      await prisma.$executeRaw`
        WITH credits AS (
          UPDATE api_keys AS k
          SET credits_remaining = k.credits_remaining + r.n, credits_reserved = GREATEST(0, k.credits_reserved - r.n)
          FROM jsonb_to_recordset(${JSON.stringify(keyCredits)}::jsonb) AS r(id uuid, epoch int, n int)
          WHERE k.id = r.id AND k.credits_epoch = r.epoch AND k.credits_remaining IS NOT NULL
          RETURNING 1
        ), windows AS (
          UPDATE rate_limit_windows AS w SET used = GREATEST(0, w.used - r.n)
          FROM jsonb_to_recordset(${JSON.stringify(keyWindows)}::jsonb) AS r(id uuid, name text, start timestamptz, n int)
          WHERE w.key_id = r.id AND w.name = r.name AND w.window_start = r.start
          RETURNING 1
        ), shared_credits AS (
          UPDATE identities AS i
          SET credits_remaining = i.credits_remaining + r.n, credits_reserved = GREATEST(0, i.credits_reserved - r.n)
          FROM jsonb_to_recordset(${JSON.stringify(identityCredits)}::jsonb) AS r(id uuid, epoch int, n int)
          WHERE i.id = r.id AND i.credits_epoch = r.epoch AND i.credits_remaining IS NOT NULL
          RETURNING 1
        ), shared_windows AS (
          UPDATE identity_rate_limit_windows AS w SET used = GREATEST(0, w.used - r.n)
          FROM jsonb_to_recordset(${JSON.stringify(identityWindows)}::jsonb) AS r(id uuid, name text, start timestamptz, n int)
          WHERE w.identity_id = r.id AND w.name = r.name AND w.window_start = r.start
          RETURNING 1
        )
        SELECT (SELECT count(*) FROM credits) + (SELECT count(*) FROM windows)
          + (SELECT count(*) FROM shared_credits) + (SELECT count(*) FROM shared_windows)`;
    },
  };
}

/** Entries of keys' pools, and of identities' (their ids without the prefix). */
export function split<T extends { id: string }>(entries: readonly T[]): [T[], T[]] {
  const keys: T[] = [];
  const identities: T[] = [];
  for (const entry of entries) {
    if (entry.id.startsWith(IDENTITY)) identities.push({ ...entry, id: entry.id.slice(IDENTITY.length) });
    else keys.push(entry);
  }
  return [keys, identities];
}
