// A merchant as the dashboard meets one: long names and URLs, a key rolled with a day's grace,
// keys in every status, a week of hourly traffic with refusals, keys unused for 45 days. Made
// through the SDK and the verification endpoint as users make them; only the week of history
// (through the usage flush's own statement) and the keys' ages are written directly. Used by the
// dashboard's screen tests and by `pnpm bench dashboard`.
import { createHash } from 'node:crypto';
import { decodeGlobalId, type VerifyCode } from '@keygate/core';
import { createKeygateClient } from '@keygate/sdk';
import { openDatabase } from '@keygate/server';
import { writeUsage } from '@keygate/server/verification';
import pg from 'pg';
import { waitFor } from './wait.ts';

export const LONG_NAME = 'Point-of-sale terminals, Lisbon flagship store and the Porto warehouse (production)';
export const LONG_URL =
  'https://checkout.northwind-trading.example.com/integrations/point-of-sale/lisbon-flagship-store?utm_source=keygate&utm_campaign=terminals';
export const APP_NAME = 'Northwind Trading — EU checkout and subscriptions (production)';

/** Ids of the application and of the keys the screens look at. */
export interface SeededMerchant {
  app: string;
  identity: string;
  long: string;
  rolledFrom: string;
  rolledTo: string;
}

const must = <T>(result: { ok: true; value: T } | { ok: false; error: unknown }): T => {
  if (!result.ok) throw new Error(JSON.stringify(result.error));
  return result.value;
};

/**
 * Seeds the merchant of `token` on the Keygate at `keygateUrl` (its database at `databaseUrl`,
 * PostgreSQL). Keygate should flush usage often (KEYGATE_USAGE_FLUSH_MS=200): this waits for
 * the first verifications to show as last used.
 */
export async function seedMerchant(keygateUrl: string, token: string, databaseUrl: string): Promise<SeededMerchant> {
  const seeded: SeededMerchant = { app: '', identity: '', long: '', rolledFrom: '', rolledTo: '' };
  const sdk = createKeygateClient({ url: `${keygateUrl}/graphql`, token });
  const app = must(
    await sdk.applications.create({
      name: APP_NAME,
      description:
        'Card payments, refunds and subscription renewals for the web shop, the iOS and Android apps and the point-of-sale terminals in 14 stores.',
    }),
  );
  seeded.app = app.id;
  for (const name of ['Loyalty points (staging)', 'Warehouse robots', 'Partner portal for resellers in Iberia']) {
    must(await sdk.applications.create({ name }));
  }
  const create = async (input: Record<string, unknown>) =>
    must(await sdk.keys.create({ applicationId: app.id, ...input } as never));
  // First, so that the keys the screens look at are on the first page (newest first).
  for (let i = 1; i <= 14; i++) await create({ name: `Store terminal ${String(i).padStart(3, '0')}` });
  // Roles as a platform's merchant defines them: one with a long name, a description and many scopes.
  const support = must(
    await sdk.roles.create({
      name: 'Customer support, tier 2 (refunds and chargebacks, EU and UK stores)',
      description: 'Reads orders and customers; issues refunds up to the store limit; answers chargebacks.',
      scopes: [
        'orders:read',
        'customers:read',
        'refunds:write',
        'chargebacks:*',
        'subscriptions:read',
        'stores:eu-west:read',
      ],
    }),
  );
  const catalog = must(await sdk.roles.create({ name: 'Catalog reader', scopes: ['catalog:read', 'prices:read'] }));
  must(await sdk.roles.create({ name: 'Finance exports', scopes: ['reports:read', 'payouts:read'] }));
  // Whose keys they are: the customer behind the long key and the mobile apps, sharing one quota.
  const customer = must(
    await sdk.identities.create({
      externalId: 'cus_NwT8fJ2kLm93Qa',
      name: 'Northwind Trading Company, Lisbon and Porto retail operations',
      metadata: { plan: 'enterprise', accountManager: 'rita.alves@example.com', seats: 40 },
      credits: { remaining: 2_500_000, refillAmount: 2_500_000, refillInterval: 'MONTHLY' },
      rateLimits: [
        { name: 'team-burst', limit: 500, windowSeconds: 1 },
        { name: 'team-daily', limit: 2_000_000, windowSeconds: 86_400 },
      ],
    }),
  );
  seeded.identity = customer.id;
  for (const [externalId, name] of [
    ['cus_Hk29sLq0Pz7Vb1', 'Contoso Pharmacies'],
    ['usr_7f3c2b9e-4d1a-4f5e-9a8b-1c2d3e4f5a6b', null],
    ['cus_Tailspin_Toys_EU_wholesale_account_0042', 'Tailspin Toys (EU wholesale)'],
  ] as const) {
    must(await sdk.identities.create({ externalId, ...(name ? { name } : {}) }));
  }
  const long = await create({
    name: LONG_NAME,
    websiteUrl: LONG_URL,
    access: 'FULL_ACCESS',
    scopes: ['orders:write', 'refunds:write', 'customers:read', 'subscriptions:*'],
    roles: [support.id],
    identityId: customer.id,
    metadata: { plan: 'enterprise', region: 'eu-west-1', stores: 14 },
    externalId: 'cus_NwT8fJ2kLm93Qa',
    credits: { remaining: 250_000, refillAmount: 250_000, refillInterval: 'MONTHLY' },
    rateLimits: [
      { name: 'burst', limit: 100, windowSeconds: 10 },
      { name: 'per-day', limit: 500_000, windowSeconds: 86_400 },
    ],
  });
  seeded.long = long.key.id;
  must(
    await sdk.keys.setIpRules({
      keyId: long.key.id,
      rules: [
        { cidr: '203.0.113.0/24', action: 'ALLOW' },
        { cidr: '198.51.100.7', action: 'ALLOW' },
        { cidr: '127.0.0.1', action: 'ALLOW' },
      ],
      defaultAction: 'DENY',
    }),
  );
  const staging = await create({ name: 'Staging checkout', access: 'FULL_ACCESS' });
  must(await sdk.keys.edit({ id: staging.key.id, name: 'Staging checkout (EU)' }));
  const rolled = must(await sdk.keys.roll(staging.key.id, { gracePeriodSeconds: 86_400 }));
  seeded.rolledFrom = staging.key.id;
  seeded.rolledTo = rolled.key.id;
  const mobile = await create({
    name: 'Mobile apps (iOS and Android)',
    access: 'READ_ONLY',
    roles: [catalog.id],
    identityId: customer.id,
  });
  const partner = await create({ name: 'Old partner integration', access: 'FULL_ACCESS' });
  must(await sdk.keys.setEnabled(partner.key.id, false));
  const leaked = await create({ name: 'Leaked in a public repository', access: 'FULL_ACCESS' });
  must(await sdk.keys.revoke(leaked.key.id));
  await create({
    name: 'Quarterly report exporter',
    expiresAt: new Date(Date.now() + 3 * 86_400_000).toISOString(),
  });
  await create({ name: 'Sandbox for the new checkout', environment: 'TEST', access: 'FULL_ACCESS' });
  // A key the platform issued before Keygate, brought in by the hash of its secret.
  must(await sdk.keys.registerImportPrefix('sk_live_'));
  const legacy = `sk_live_${'4eC39HqLyjWDarjtT1zdp7dc'}`;
  must(
    await sdk.keys.import({
      applicationId: app.id,
      keys: [
        {
          hash: createHash('sha256').update(legacy).digest('hex'),
          prefix: legacy.slice(0, 12),
          name: 'Legacy integration (issued before Keygate)',
          access: 'READ_ONLY',
        },
      ],
    }),
  );

  // Traffic as it arrives: allowed, and refused for the reasons merchants meet.
  const auth = (secret: string, headers: Record<string, string> = {}) =>
    fetch(`${keygateUrl}/v1/auth`, { headers: { 'x-api-key': secret, ...headers } });
  for (let i = 0; i < 5; i++) await auth(long.secret);
  await auth(rolled.secret);
  await auth(mobile.secret);
  await auth(mobile.secret, { 'x-original-method': 'POST' }); // INSUFFICIENT_ACCESS
  await auth(leaked.secret); // REVOKED
  await auth(partner.secret); // KEY_DISABLED
  // A week of hourly traffic for the long key and the mobile key, written as usage flushes write it.
  const rows: [string, string, string, number][] = [];
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const now = Date.now();
    const hour = 3_600_000;
    for (const [id, scale] of [
      [long.key.id, 900],
      [mobile.key.id, 300],
    ] as const) {
      const uuid = decodeGlobalId(id).id;
      for (let h = 1; h <= 7 * 24; h++) {
        const at = new Date(Math.floor((now - h * hour) / hour) * hour);
        const daily = 0.55 + 0.45 * Math.sin(((at.getUTCHours() - 6) / 24) * 2 * Math.PI);
        rows.push([uuid, at.toISOString(), 'VALID', Math.round(scale * daily) + (h % 7) * 3]);
        if (h % 5 === 0) rows.push([uuid, at.toISOString(), 'RATE_LIMITED', 4 + (h % 11)]);
        if (h % 9 === 0) rows.push([uuid, at.toISOString(), 'IP_DENIED', 1 + (h % 3)]);
      }
    }
    // What anomaly detection found this week, as it records it (its own tests make it find them).
    await db.query(
      `INSERT INTO key_anomalies (id, merchant_id, key_id, kind, subject, hour, details, response, detected_at)
       SELECT gen_random_uuid(), k.merchant_id, a.key_id::uuid, a.kind::"AnomalyKind", a.subject, a.hour, a.details::jsonb,
         'NOTIFY', a.detected_at
       FROM (VALUES ($1, 'NEW_NETWORK', '185.220.101.0/24', date_trunc('hour', now()) - interval '2 hours',
         '{"network": "185.220.101.0/24"}', now() - interval '110 minutes'),
         ($2, 'VOLUME_SPIKE', 'spike', date_trunc('hour', now()) - interval '26 hours',
         '{"verifications": 4180, "norm": 312.5}', now() - interval '25 hours'))
         AS a(key_id, kind, subject, hour, details, detected_at)
       JOIN api_keys k ON k.id = a.key_id::uuid`,
      [decodeGlobalId(long.key.id).id, decodeGlobalId(mobile.key.id).id],
    );
    // Keys made 45 days ago and never used since: what the overview offers to revoke.
    await db.query(
      `UPDATE api_keys SET created_at = now() - interval '45 days'
       WHERE name ~ '^Store terminal 00[1-5]$' OR name = 'Old partner integration'`,
    );
  } finally {
    await db.end();
  }
  // The week of counts, written as a usage flush writes them (per key, application and merchant).
  const database = await openDatabase({ kind: 'postgres', url: databaseUrl, poolSize: 2 });
  try {
    await writeUsage(database.prisma, {
      uses: [],
      refusals: [],
      counts: rows.map(([key_id, hour, code, count]) => ({ key_id, hour, code: code as VerifyCode, count })),
    });
  } finally {
    await database.close();
  }
  // The flush of the real verifications has landed once the list shows the long key as used.
  await waitFor(async () => Boolean((await sdk.keys.get(long.key.id))?.lastUsedAt), 15_000);
  // A key policy set after the keys were made: most of them predate it and are listed out of it.
  must(
    await sdk.policy.set({
      maxLifetimeDays: { live: 365 },
      fullAccessRequiresIpRules: true,
      noWildcardScopesInLive: true,
      maxGracePeriodSeconds: 86_400,
    }),
  );
  return seeded;
}
