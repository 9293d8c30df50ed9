// Anomalies: how a key is used, compared with how it was used. From the observed networks and the
// usage counts of each key's current hour against its window: first use from a network not seen
// in the window, far more networks in an hour than its norm, volume far above its hourly norm, a
// burst of refusals. Each is found once (a row whose unique subject the detecting transaction
// inserts: across instances, only one insert wins), sent as a key.anomaly event through the outbox,
// and answered as the merchant chose per kind: notify only, or disable the key too (audited as done
// by Keygate; enabling it again is the merchant's). No anomaly in a key's first day of traffic.
import { recorded } from './audit.ts';
import type { KeyChangeListener, MerchantContext } from './context.ts';
import { emit, keyEventData } from './events.ts';
import type { AnomalyKind, AnomalyResponse, KeyAnomaly, Prisma, PrismaClient } from './prisma.ts';

export const ANOMALY_KINDS = ['NEW_NETWORK', 'MANY_NETWORKS', 'VOLUME_SPIKE', 'REFUSAL_BURST'] as const;

export interface AnomalyThresholds {
  /** Days of history an hour is compared with. */
  windowDays: number;
  /** VOLUME_SPIKE: verifications in the hour at least this many times the hourly norm... */
  volumeFactor: number;
  /** ...and at least this many. */
  minVolume: number;
  /** MANY_NETWORKS: distinct networks in the hour at least this many times the norm, and at least minNetworks. */
  networksFactor: number;
  minNetworks: number;
  /** REFUSAL_BURST: refusals in the hour at least this many times their norm, and at least minRefusals. */
  refusalsFactor: number;
  minRefusals: number;
}

export const DEFAULT_THRESHOLDS: AnomalyThresholds = {
  windowDays: 30,
  volumeFactor: 10,
  minVolume: 100,
  networksFactor: 5,
  minNetworks: 10,
  refusalsFactor: 10,
  minRefusals: 20,
};

interface HourRow {
  key_id: string;
  merchant_id: string;
  hour: Date;
  new_networks: string[];
  networks: number;
  networks_norm: number;
  volume: number;
  refused: number;
  volume_norm: number;
  refused_norm: number;
  refused_networks: Record<string, number>;
}

interface Found {
  keyId: string;
  merchantId: string;
  kind: AnomalyKind;
  subject: string;
  hour: Date;
  details: Prisma.InputJsonObject;
}

const HOUR_MS = 3_600_000;
/** Held (for a transaction) by the instance working out norms; others do not do the same work at once. */
export const NORMS_LOCK = 7_246_117_002n;

/**
 * The anomalies of the hours a detection run looks at (the current one and the one before).
 *
 * A key's norms for an hour (its traffic per hour in the window before it) read only earlier hours,
 * so they are computed once per key and hour, by the first scan that judges the hour, and kept in
 * key_hour_norms: every later scan of that hour only reads the hour itself. Computing them on every
 * scan cost 8 ms per key a minute on every instance (1,000 keys with 30 days of history: a 16 s
 * scan each minute). Rows of hours no longer judged are pruned here.
 */
async function find(prisma: PrismaClient, now: number, t: AnomalyThresholds): Promise<Found[]> {
  const from = new Date(Math.floor(now / HOUR_MS) * HOUR_MS - HOUR_MS);
  const window = `${t.windowDays} days`;
  // Without JIT: these statements reach every day partition, which takes PostgreSQL's estimate past
  // jit_above_cost, and compiling a thousand plan nodes took longer than running them (4.5 s of a
  // 4.6 s scan of 1,000 keys).
  await prisma.$transaction(
    [
      prisma.$executeRaw`SET LOCAL jit = off`,
      prisma.$executeRaw`DELETE FROM key_hour_norms WHERE hour < ${from}`,
      // One instance at a time works them out (the others judge what is there, and add what is
      // missing on a later scan); an insert racing one that began before the lock skips its rows.
      prisma.$executeRaw`
    INSERT INTO key_hour_norms (key_id, hour, first_hour, networks_norm, volume_norm, refused_norm)
    SELECT c.key_id, c.hour, c.first_hour,
      COALESCE((SELECT avg((SELECT count(*) FROM jsonb_object_keys(p.valid_networks)))
        FROM key_observations p WHERE p.key_id = c.key_id AND p.hour < c.hour AND p.hour >= c.since
          AND p.valid_networks <> '{}'), 0)::float8,
      (COALESCE((SELECT sum(u.count) FROM key_usage u WHERE u.key_id = c.key_id AND u.hour < c.hour
        AND u.hour >= c.since), 0) / GREATEST(1, extract(epoch FROM c.hour - c.since) / 3600))::float8,
      (COALESCE((SELECT sum(u.count) FROM key_usage u WHERE u.key_id = c.key_id AND u.hour < c.hour
        AND u.hour >= c.since AND u.code <> 'VALID'), 0)
        / GREATEST(1, extract(epoch FROM c.hour - c.since) / 3600))::float8
    FROM (
      SELECT o.key_id, o.hour, f.first_hour, GREATEST(f.first_hour, o.hour - ${window}::interval) AS since
      FROM key_observations o JOIN api_keys k ON k.id = o.key_id
      CROSS JOIN LATERAL (SELECT min(f.hour) AS first_hour FROM key_observations f WHERE f.key_id = o.key_id) f
      WHERE o.hour >= ${from} AND k.revoked_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM key_hour_norms n WHERE n.key_id = o.key_id AND n.hour = o.hour)
        AND (SELECT pg_try_advisory_xact_lock(${NORMS_LOCK}))
    ) c
    ON CONFLICT (key_id, hour) DO NOTHING`,
    ],
    // The first scan of an hour computes every active key's norms (about 4 ms a key with 30 days of
    // history); later scans of the hour add only keys that were not active yet.
    { timeout: 15 * 60_000 },
  );
  const [, rows] = await prisma.$transaction([
    prisma.$executeRaw`SET LOCAL jit = off`,
    prisma.$queryRaw<HourRow[]>`
    SELECT o.key_id::text AS key_id, k.merchant_id, o.hour, o.refused_networks,
      ARRAY(SELECT n FROM jsonb_object_keys(o.valid_networks) AS n WHERE NOT EXISTS (
        SELECT 1 FROM key_observations p
        WHERE p.key_id = o.key_id AND p.hour < o.hour AND p.hour >= o.hour - ${window}::interval AND p.valid_networks ? n
      ) ORDER BY n) AS new_networks,
      (SELECT count(*) FROM jsonb_object_keys(o.valid_networks))::int AS networks,
      h.networks_norm,
      COALESCE((SELECT sum(u.count) FROM key_usage u WHERE u.key_id = o.key_id AND u.hour = o.hour), 0)::int AS volume,
      COALESCE((SELECT sum(u.count) FROM key_usage u WHERE u.key_id = o.key_id AND u.hour = o.hour
        AND u.code <> 'VALID'), 0)::int AS refused,
      h.volume_norm, h.refused_norm
    FROM key_observations o JOIN api_keys k ON k.id = o.key_id
    JOIN key_hour_norms h ON h.key_id = o.key_id AND h.hour = o.hour
    -- No anomaly from a key's first day of traffic: there is no norm yet.
    WHERE o.hour >= ${from} AND k.revoked_at IS NULL AND h.first_hour <= o.hour - interval '1 day'`,
  ]);
  const found: Found[] = [];
  for (const row of rows) {
    const base = { keyId: row.key_id, merchantId: row.merchant_id, hour: row.hour };
    const hour = row.hour.toISOString().slice(0, 13);
    for (const network of row.new_networks) {
      found.push({ ...base, kind: 'NEW_NETWORK', subject: `${network} ${hour}`, details: { network } });
    }
    const round = (n: number) => Math.round(n * 100) / 100;
    if (row.networks >= t.minNetworks && row.networks >= t.networksFactor * row.networks_norm) {
      found.push({
        ...base,
        kind: 'MANY_NETWORKS',
        subject: hour,
        details: { networks: row.networks, norm: round(row.networks_norm) },
      });
    }
    if (row.volume >= t.minVolume && row.volume >= t.volumeFactor * row.volume_norm) {
      found.push({
        ...base,
        kind: 'VOLUME_SPIKE',
        subject: hour,
        details: { verifications: row.volume, norm: round(row.volume_norm) },
      });
    }
    if (row.refused >= t.minRefusals && row.refused >= t.refusalsFactor * row.refused_norm) {
      found.push({
        ...base,
        kind: 'REFUSAL_BURST',
        subject: hour,
        details: {
          refused: row.refused,
          norm: round(row.refused_norm),
          networks: Object.keys(row.refused_networks).slice(0, 20),
        },
      });
    }
  }
  return found;
}

/** Who disabled a key for an anomaly, in the audit trail. */
export const ANOMALY_ACTOR = 'keygate (anomaly detection)';

/**
 * One detection run: records what is new (once, whichever instance runs it first), sends each as a
 * key.anomaly event, and disables the key where the merchant chose that. Returns what it recorded.
 */
export async function detectAnomalies(
  prisma: PrismaClient,
  keyChanges: KeyChangeListener,
  now: number,
  thresholds: AnomalyThresholds = DEFAULT_THRESHOLDS,
): Promise<KeyAnomaly[]> {
  const found = await find(prisma, now, thresholds);
  const recorded: KeyAnomaly[] = [];
  for (const anomaly of found) {
    const settled = await prisma.$transaction(async (tx) => {
      const settings = await tx.keyPolicy.findUnique({ where: { merchantId: anomaly.merchantId } });
      const responses = (settings?.anomalyResponses ?? {}) as Partial<Record<AnomalyKind, AnomalyResponse>>;
      const response: AnomalyResponse = responses[anomaly.kind] === 'DISABLE' ? 'DISABLE' : 'NOTIFY';
      const [inserted] = await tx.$queryRaw<{ id: string }[]>`
        INSERT INTO key_anomalies (id, merchant_id, key_id, kind, subject, hour, details, response, detected_at)
        VALUES (gen_random_uuid(), ${anomaly.merchantId}, ${anomaly.keyId}::uuid, ${anomaly.kind}::"AnomalyKind",
          ${anomaly.subject}, ${anomaly.hour}, ${JSON.stringify(anomaly.details)}::jsonb,
          ${response}::"AnomalyResponse", ${new Date(now)})
        ON CONFLICT (key_id, kind, subject) DO NOTHING
        RETURNING id::text`;
      // Another run (here or on another instance) found it first: it sent the event.
      if (!inserted) return null;
      const row = await tx.keyAnomaly.findUniqueOrThrow({ where: { id: inserted.id } });
      let key = await tx.apiKey.findUniqueOrThrow({ where: { id: anomaly.keyId } });
      let disabled = false;
      if (response === 'DISABLE' && key.enabled && !key.revokedAt) {
        key = await tx.apiKey.update({ where: { id: key.id }, data: { enabled: false } });
        disabled = true;
        await tx.auditEvent.create({
          data: {
            merchantId: anomaly.merchantId,
            actor: ANOMALY_ACTOR,
            action: 'setKeyEnabled',
            targetType: 'ApiKey',
            targetId: key.id,
            summary: { enabled: false, anomaly: anomaly.kind },
          },
        });
        await emit(tx, anomaly.merchantId, { type: 'KEY_DISABLED', data: keyEventData(key) }, new Date(now));
      }
      await emit(
        tx,
        anomaly.merchantId,
        {
          type: 'KEY_ANOMALY',
          data: { ...keyEventData(key, new Date(now)), anomaly: anomalyEventData(row, disabled) },
        },
        new Date(now),
      );
      const announcement = disabled ? await keyChanges.announce(tx, { keyIds: [key.id] }) : null;
      return { row, announcement };
    });
    if (settled) {
      await settled.announcement?.settled();
      recorded.push(settled.row);
    }
  }
  return recorded;
}

function anomalyEventData(row: KeyAnomaly, disabled: boolean): Prisma.InputJsonObject {
  return {
    kind: row.kind,
    hour: row.hour.toISOString(),
    details: row.details as Prisma.InputJsonObject,
    response: row.response,
    keyDisabled: disabled,
  };
}

/** A key's anomalies, newest first (the caller's own keys only). */
export function keyAnomalies(ctx: MerchantContext, keyId: string, first = 20): Promise<KeyAnomaly[]> {
  return ctx.prisma.keyAnomaly.findMany({
    where: { keyId, merchantId: ctx.viewer.merchantId },
    orderBy: { id: 'desc' },
    take: first,
  });
}

/** The merchant's anomalies since `since`, newest first. */
export function recentAnomalies(ctx: MerchantContext, since: Date, first: number): Promise<KeyAnomaly[]> {
  return ctx.prisma.keyAnomaly.findMany({
    where: { merchantId: ctx.viewer.merchantId, detectedAt: { gte: since } },
    orderBy: { id: 'desc' },
    take: first,
    include: { key: true },
  });
}

export type AnomalyResponses = Record<AnomalyKind, AnomalyResponse>;

export async function anomalyResponses(ctx: MerchantContext): Promise<AnomalyResponses> {
  const settings = await ctx.prisma.keyPolicy.findUnique({ where: { merchantId: ctx.viewer.merchantId } });
  return responsesOf(settings?.anomalyResponses);
}

function responsesOf(stored: unknown): AnomalyResponses {
  const set = (stored ?? {}) as Partial<AnomalyResponses>;
  return Object.fromEntries(ANOMALY_KINDS.map((kind) => [kind, set[kind] ?? 'NOTIFY'])) as AnomalyResponses;
}

/** Sets what Keygate does on each kind of anomaly (audited); kinds not given stay as they are. */
export async function setAnomalyResponses(
  ctx: MerchantContext,
  input: Partial<AnomalyResponses>,
): Promise<AnomalyResponses> {
  const before = await anomalyResponses(ctx);
  const next = { ...before, ...Object.fromEntries(Object.entries(input).filter(([, value]) => value != null)) };
  const row = await recorded(
    ctx,
    (tx) =>
      tx.keyPolicy.upsert({
        where: { merchantId: ctx.viewer.merchantId },
        create: { merchantId: ctx.viewer.merchantId, anomalyResponses: next },
        update: { anomalyResponses: next },
      }),
    (written) => ({
      action: 'setAnomalyResponses',
      target: { type: 'KeyPolicy', id: written.id },
      summary: { ...next, before },
    }),
  );
  return responsesOf(row.anomalyResponses);
}
