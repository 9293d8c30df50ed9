// Anomalies with a controllable clock, on two instances of one database: a week of traffic from
// one /24, then a request from a new /24 → one key.anomaly event, whichever instances look; ten
// times the hourly volume → one event; the "disable" response → the next request KEY_DISABLED; a
// key's first day of traffic → none; another merchant sees and changes nothing of it.
import { createKeygateClient } from '@keygate/sdk';
import {
  AnomaliesDocument as ANOMALIES,
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  KeySuggestionDocument as KEY_DETAILS,
  SetAnomalyResponsesDocument as SET_RESPONSES,
} from '@keygate/sdk/documents';
import { NORMS_LOCK } from '@keygate/services/anomalies';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase, testDbKind } from '../support/database.ts';
import { ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

const HOUR = 3_600_000;
const today = Math.floor(Date.now() / HOUR) * HOUR + 30 * 60_000;
let now = today;

let db: TestDatabase;
let a: TestServer;
let b: TestServer;
let token: string;
let app: string;

beforeAll(async () => {
  db = await openTestDatabase();
  const env = { KEYGATE_USAGE_FLUSH_MS: '3600000', KEYGATE_ANOMALY_SCAN_SECONDS: '3600' };
  a = await startTestServer(env, db, { clock: () => now });
  b = await startTestServer(env, db, { clock: () => now });
  token = await a.merchantToken('northwind');
  app = ok((await a.graphql(token, CREATE_APP, { input: { name: 'Orders API' } })).data.createApplication).application
    .id;
}, 60_000);
afterAll(async () => {
  await b?.close();
  await a?.close();
  await db?.close();
});

async function key(name: string) {
  const created = ok((await a.graphql(token, CREATE_KEY, { input: { applicationId: app, name } })).data.createKey);
  return {
    id: created.key.id,
    secret: created.secret,
    local: Buffer.from(created.key.id, 'base64').toString().split(':')[1]!,
  };
}
const verify = (secret: string, ip: string, at = today) => {
  now = at;
  const outcome = a.server.verifier.verify({ key: secret, ip, requiredScopes: [] });
  now = today;
  return outcome;
};
/** Both instances look, at once; what they recorded together. */
async function detect() {
  await a.server.usage.flush();
  const [x, y] = await Promise.all([a.server.anomalies.runOnce(), b.server.anomalies.runOnce()]);
  return [...x, ...y];
}
const events = async (localKeyId: string) =>
  (await db.prisma.event.findMany({ where: { type: 'key.anomaly' }, orderBy: { createdAt: 'asc' } })).filter(
    (event) => (event.data as { id: string }).id === Buffer.from(`ApiKey:${localKeyId}`).toString('base64'),
  );

describe('a key used for a week from one /24', () => {
  let k: Awaited<ReturnType<typeof key>>;

  beforeAll(async () => {
    k = await key('Checkout backend');
    for (let h = 7 * 24; h >= 1; h--) {
      for (let i = 0; i < 5; i++) {
        expect((await verify(k.secret, `203.0.113.${(h + i) % 200}`, today - h * HOUR)).code).toBe('VALID');
      }
    }
    expect(await detect()).toEqual([]);
  }, 60_000);

  it('a request from a new /24 is one key.anomaly event, found once across two instances', async () => {
    expect((await verify(k.secret, '198.51.100.23')).code).toBe('VALID');
    const found = await detect();
    expect(found.map((anomaly) => [anomaly.kind, anomaly.details])).toEqual([
      ['NEW_NETWORK', { network: '198.51.100.0/24' }],
    ]);
    expect(await detect()).toEqual([]);
    const sent = await events(k.local);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.data).toMatchObject({
      name: 'Checkout backend',
      anomaly: { kind: 'NEW_NETWORK', response: 'NOTIFY', keyDisabled: false, details: { network: '198.51.100.0/24' } },
    });
    // The key's page flags it, in words.
    const node = (await a.graphql(token, KEY_DETAILS, { id: k.id })).data.node;
    expect(node && 'anomalies' in node ? node.anomalies.map((x) => x.message) : []).toEqual([
      'First use from 198.51.100.0/24, a network it was not used from in the window',
    ]);
  });

  it('ten times the hourly volume is one event', async () => {
    for (let i = 0; i < 120; i++) expect((await verify(k.secret, `203.0.113.${i % 200}`)).code).toBe('VALID');
    const found = await detect();
    expect(found.map((anomaly) => anomaly.kind)).toEqual(['VOLUME_SPIKE']);
    const details = found[0]!.details as { verifications: number; norm: number };
    expect(details.verifications).toBeGreaterThanOrEqual(121);
    expect(details.norm).toBeCloseTo(5, 0);
    expect(await detect()).toEqual([]);
    expect((await events(k.local)).map((event) => (event.data as { anomaly: { kind: string } }).anomaly.kind)).toEqual([
      'NEW_NETWORK',
      'VOLUME_SPIKE',
    ]);
  });

  it('with "disable" chosen for new networks, the next request is KEY_DISABLED', async () => {
    const set = ok(
      (await a.graphql(token, SET_RESPONSES, { input: { newNetwork: 'DISABLE' } })).data.setAnomalyResponses,
    );
    expect(set.anomalyResponses).toEqual({
      newNetwork: 'DISABLE',
      manyNetworks: 'NOTIFY',
      volumeSpike: 'NOTIFY',
      refusalBurst: 'NOTIFY',
    });
    expect((await verify(k.secret, '192.0.2.77')).code).toBe('VALID');
    const found = await detect();
    expect(found.map((anomaly) => [anomaly.kind, anomaly.response])).toEqual([['NEW_NETWORK', 'DISABLE']]);
    expect((await verify(k.secret, '203.0.113.5')).code).toBe('KEY_DISABLED');
    const audit = await db.prisma.auditEvent.findFirst({ where: { action: 'setKeyEnabled', targetId: k.local } });
    expect(audit).toMatchObject({
      actor: 'keygate (anomaly detection)',
      summary: { enabled: false, anomaly: 'NEW_NETWORK' },
    });
    expect(await db.prisma.event.count({ where: { type: 'key.disabled' } })).toBe(1);
  });
});

describe('a key in its first day of traffic', () => {
  it('has no anomaly, whatever it does', async () => {
    const fresh = await key('New integration');
    for (let i = 0; i < 300; i++) {
      expect((await verify(fresh.secret, `10.${i % 50}.${i % 7}.1`, today - (i % 3) * HOUR)).code).toBe('VALID');
    }
    const found = await detect();
    expect(found.filter((anomaly) => anomaly.keyId === fresh.local)).toEqual([]);
  });
});

describe('tenant isolation', () => {
  it("another merchant neither sees a merchant's anomalies nor changes its responses", async () => {
    const intruder = await a.merchantToken('intruder');
    const mine = (await a.graphql(token, ANOMALIES, {})).data;
    expect(mine.anomalies.length).toBeGreaterThanOrEqual(3);
    // The SDK reads the same.
    const sdk = createKeygateClient({ url: `${a.url}/graphql`, token });
    expect((await sdk.anomalies.list()).anomalies.map((x) => x.id)).toEqual(mine.anomalies.map((x) => x.id));
    const theirs = (await a.graphql(intruder, ANOMALIES, {})).data;
    expect(theirs.anomalies).toEqual([]);
    ok((await a.graphql(intruder, SET_RESPONSES, { input: { volumeSpike: 'DISABLE' } })).data.setAnomalyResponses);
    expect((await a.graphql(token, ANOMALIES, {})).data.anomalyResponses.volumeSpike).toBe('NOTIFY');
    const foreign = (await a.graphql(intruder, KEY_DETAILS, { id: mine.anomalies[0]!.key!.id })).data.node;
    expect(foreign).toBeNull();
  });
});

describe("a key's norms", () => {
  it('are computed once per key and hour, and pruned once the hour is no longer judged', async () => {
    const k = await key('Nightly export');
    const thisHour = Math.floor(today / HOUR) * HOUR;
    for (let h = 3 * 24; h >= 0; h--) {
      for (let i = 0; i < 2; i++) expect((await verify(k.secret, '203.0.113.9', today - h * HOUR)).code).toBe('VALID');
    }
    expect(await detect()).toEqual([]);
    const norms = () => db.prisma.keyHourNorm.findMany({ where: { keyId: k.local }, orderBy: { hour: 'asc' } });
    const first = await norms();
    // The hours judged: the current one and the one before, each with the three days before it.
    expect(first.map((n) => n.hour.getTime())).toEqual([thisHour - HOUR, thisHour]);
    for (const norm of first) expect(norm.volumeNorm).toBeCloseTo(2, 1);
    expect(first[1]!.networksNorm).toBe(1);
    // History that arrives later (a verifier's delayed report) does not move an hour already judged.
    for (let i = 0; i < 50; i++) expect((await verify(k.secret, '203.0.113.9', today - 5 * HOUR)).code).toBe('VALID');
    expect(await detect()).toEqual([]);
    expect(await norms()).toEqual(first);
    // Two hours on, the hours judged before are gone and the new ones have their own.
    const later = today + 2 * HOUR;
    expect((await verify(k.secret, '203.0.113.9', later)).code).toBe('VALID');
    now = later;
    try {
      await detect();
    } finally {
      now = today;
    }
    expect((await norms()).map((n) => n.hour.getTime())).toEqual([thisHour + 2 * HOUR]);
    expect(await db.prisma.keyHourNorm.count({ where: { hour: { lt: new Date(thisHour + HOUR) } } })).toBe(0);
  });
});

describe.runIf(testDbKind === 'postgres')('working out norms on PostgreSQL', () => {
  it('is left to the instance already doing it: another scan at that moment adds none', async () => {
    const k = await key('Batch importer');
    for (let h = 2 * 24; h >= 0; h--)
      expect((await verify(k.secret, '203.0.113.50', today - h * HOUR)).code).toBe('VALID');
    await a.server.usage.flush();
    const count = () => db.prisma.keyHourNorm.count({ where: { keyId: k.local } });
    // Another instance's scan holds the norms' lock for its transaction.
    await db.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${NORMS_LOCK})`;
      expect(await b.server.anomalies.runOnce()).toEqual([]);
      expect(await count()).toBe(0);
    });
    await b.server.anomalies.runOnce();
    expect(await count()).toBe(2);
  });
});
