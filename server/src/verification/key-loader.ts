// Loads what verification needs about one key, by the hash of its secret, in
// a single round trip (key, application state, ordered IP rules, and the metering
// that applies: its own, or, for a rolled key, that of the key that replaced it).
import { compileIpRules, type IpAction, type KeyMeter, type RefillInterval, type VerifiableKey } from '@keygate/core';
import type { PrismaClient } from '@keygate/schema/prisma';
import { inSpan, SpanKind, tracing } from '../tracing.ts';

interface Row {
  id: string;
  prefix: string;
  application_id: string;
  merchant_id: string;
  environment: 'LIVE' | 'TEST';
  access: 'READ_ONLY' | 'FULL_ACCESS';
  scopes: string[];
  expires_at: Date | null;
  revoked: boolean;
  key_enabled: boolean;
  enabled: boolean;
  metadata: string | null;
  external_id: string | null;
  meter_id: string;
  ip_default_action: IpAction;
  ip_rules: { cidr: string; action: IpAction }[];
  has_credits: boolean;
  refill_interval: RefillInterval | null;
  refill_day: number | null;
  credits_epoch: number;
  rate_limits: { name: string; limit: number; windowSeconds: number }[];
}

export type KeyLoader = (hash: string) => Promise<VerifiableKey | null>;

export function createKeyLoader(prisma: PrismaClient): KeyLoader {
  const load = loadFrom(prisma);
  // Traced as the database query of a cache miss (a client span under the request's own).
  return (hash) =>
    tracing.enabled
      ? inSpan('keygate.key.load', { kind: SpanKind.CLIENT, attributes: LOAD_ATTRIBUTES }, async (span) => {
          const key = await load(hash);
          span.setAttribute('keygate.key.found', key !== null);
          return key;
        })
      : load(hash);
}

const LOAD_ATTRIBUTES = {
  'db.system.name': 'postgresql',
  'db.operation.name': 'SELECT',
  'db.collection.name': 'api_keys',
  'keygate.cache': 'miss',
};

function loadFrom(prisma: PrismaClient): KeyLoader {
  return async (hash) => {
    // The end of the key's chain of rolls carries the metering (it moved there with each roll).
    const rows = await prisma.$queryRaw<Row[]>`
      WITH RECURSIVE chain AS (
        SELECT k.id, 0 AS depth FROM api_keys k WHERE k.hash = ${hash}
        UNION ALL
        SELECT s.id, c.depth + 1 FROM chain c JOIN api_keys s ON s.rolled_from_id = c.id WHERE c.depth < 32
      )
      SELECT k.id, k.prefix, k.application_id, k.merchant_id, k.environment::text AS environment,
             k.access::text AS access, k.scopes, k.expires_at, k.revoked_at IS NOT NULL AS revoked,
             k.enabled AS key_enabled, a.enabled, k.metadata::text AS metadata, k.external_id,
             k.ip_default_action::text AS ip_default_action, m.id AS meter_id,
             m.credits_remaining IS NOT NULL AS has_credits, m.refill_interval::text AS refill_interval,
             m.refill_day, m.credits_epoch, m.rate_limits,
             COALESCE((SELECT json_agg(json_build_object('cidr', r.cidr, 'action', r.action) ORDER BY r.position)
                       FROM ip_rules r WHERE r.key_id = k.id), '[]'::json) AS ip_rules
      FROM api_keys k JOIN applications a ON a.id = k.application_id
      JOIN api_keys m ON m.id = (SELECT id FROM chain ORDER BY depth DESC LIMIT 1)
      WHERE k.hash = ${hash}`;
    const row = rows[0];
    if (!row) return null;
    return {
      id: row.id,
      prefix: row.prefix,
      applicationId: row.application_id,
      merchantId: row.merchant_id,
      environment: row.environment,
      access: row.access,
      scopes: row.scopes,
      expiresAt: row.expires_at ? row.expires_at.getTime() : null,
      revoked: row.revoked,
      enabled: row.key_enabled,
      applicationEnabled: row.enabled,
      ipRules: compileIpRules(row.ip_rules, row.ip_default_action),
      meter: keyMeter(row),
      meterKeyId: row.meter_id,
      metadata: row.metadata,
      externalId: row.external_id,
    };
  };
}

function keyMeter(row: Row): KeyMeter | null {
  if (!row.has_credits && row.rate_limits.length === 0) return null;
  return {
    credits: row.has_credits
      ? { epoch: row.credits_epoch, refillInterval: row.refill_interval, refillDay: row.refill_day }
      : null,
    rateLimits: row.rate_limits.map((limit) => ({
      name: limit.name,
      limit: limit.limit,
      windowMs: limit.windowSeconds * 1000,
    })),
  };
}
