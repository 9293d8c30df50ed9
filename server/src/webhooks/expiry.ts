// Expiry warnings: a key.expiring event at each threshold before a key's expiry
// (7 days and 1 day by default), and key.expired when the expiry passes. Each
// instance scans every KEYGATE_EXPIRY_SCAN_SECONDS; a notice is a row inserted in the
// same transaction as its event, and the insert that conflicts sends nothing, so
// every warning fires once — across restarts and with several instances. A key
// given a new expiry is warned about anew.

import { emit as emitEvent, keyEventData } from '@keygate/services/events';
import type { PrismaClient } from '@keygate/services/prisma';
import { PeriodicScan } from './periodic.ts';

export interface ExpiryOptions {
  /** Seconds before the expiry at which to warn, e.g. [604800, 86400]. */
  warnings: number[];
  intervalMs: number;
}

/** Keys that expired longer ago than this when first seen (before warnings existed) are not announced. */
const EXPIRED_LOOKBACK_MS = 7 * 86_400_000;

export class ExpiryWatcher extends PeriodicScan<number> {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: ExpiryOptions,
    private readonly clock: () => number = Date.now,
    log: (error: unknown) => void = (error) => console.error('keygate: expiry warnings', error),
  ) {
    super(options.intervalMs, log);
  }

  /** One scan: the events it sent. */
  protected scan(): Promise<number> {
    const now = new Date(this.clock());
    const oldest = new Date(now.getTime() - EXPIRED_LOOKBACK_MS);
    const thresholds = [...new Set([...this.options.warnings, 0])];
    return this.prisma.$transaction(async (tx) => {
      const notices = await tx.$queryRaw<{ key_id: string; threshold_seconds: number }[]>`
        INSERT INTO key_expiry_notices (key_id, threshold_seconds, expires_at, created_at)
        SELECT k.id, t.s, k.expires_at, ${now}
        FROM api_keys k CROSS JOIN unnest(${thresholds}::int[]) AS t(s)
        WHERE k.revoked_at IS NULL AND k.expires_at IS NOT NULL
          AND k.expires_at <= ${now}::timestamptz + t.s * interval '1 second'
          AND CASE WHEN t.s = 0 THEN k.expires_at > ${oldest} ELSE k.expires_at > ${now} END
        ON CONFLICT DO NOTHING
        RETURNING key_id::text, threshold_seconds`;
      if (notices.length === 0) return 0;
      // One event per key: key.expired, else a warning at the tightest threshold reached.
      const tightest = new Map<string, number>();
      for (const { key_id, threshold_seconds } of notices) {
        tightest.set(key_id, Math.min(tightest.get(key_id) ?? Number.POSITIVE_INFINITY, threshold_seconds));
      }
      const keys = await tx.apiKey.findMany({ where: { id: { in: [...tightest.keys()] } } });
      for (const key of keys) {
        const threshold = tightest.get(key.id)!;
        await emitEvent(
          tx,
          key.merchantId,
          threshold === 0
            ? { type: 'KEY_EXPIRED', data: keyEventData(key, now) }
            : { type: 'KEY_EXPIRING', data: { ...keyEventData(key, now), warningSeconds: threshold } },
          now,
        );
      }
      return keys.length;
    });
  }
}
