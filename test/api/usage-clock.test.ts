// A clock that steps back over an hour's start (an NTP correction, a VM resumed) between two
// verifications of one key: the key's hour then appears twice in the instance's usage batch. The
// flush must still write it, once, with everything counted; before, the observations' upsert failed
// the whole statement, the batch was kept to retry, and no usage of any key was written again.
import { CreateApplicationDocument as CREATE_APP, CreateKeyDocument as CREATE_KEY } from '@keygate/sdk/documents';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

const HOUR = 3_600_000;
const hour = Math.floor(Date.now() / HOUR) * HOUR;
let now = hour + 60_000;
let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ KEYGATE_USAGE_FLUSH_MS: '3600000' }, undefined, { clock: () => now });
});
afterAll(() => s?.close());

it("writes a key's hour met twice because the clock stepped back, counting every verification", async () => {
  const token = await s.merchantToken('clockwork');
  const app = ok((await s.graphql(token, CREATE_APP, { input: { name: 'Orders' } })).data.createApplication).application
    .id;
  const created = ok((await s.graphql(token, CREATE_KEY, { input: { applicationId: app, name: 'k' } })).data.createKey);
  const keyId = Buffer.from(created.key.id, 'base64').toString().split(':')[1]!;
  const verifyAt = async (at: number) => {
    now = at;
    expect((await s.server.verifier.verify({ key: created.secret, ip: '203.0.113.7', requiredScopes: [] })).code).toBe(
      'VALID',
    );
  };
  await verifyAt(hour + 60_000);
  await verifyAt(hour - 1_000); // stepped back over the hour's start
  await verifyAt(hour + 120_000);
  await verifyAt(hour + 180_000);
  const failuresBefore = s.server.usage.stats.failures;
  await s.server.usage.flush();
  expect(s.server.usage.stats.failures).toBe(failuresBefore);
  const counted = await s.db.prisma.keyUsage.findMany({ where: { keyId }, orderBy: { hour: 'asc' } });
  expect(counted.map((c) => [c.hour.getTime() - hour, c.code, c.count])).toEqual([
    [-HOUR, 'VALID', 1],
    [0, 'VALID', 3],
  ]);
  const observed = await s.db.prisma.keyObservation.findMany({ where: { keyId }, orderBy: { hour: 'asc' } });
  expect(observed.map((o) => [o.hour.getTime() - hour, o.readCount, o.validNetworks])).toEqual([
    [-HOUR, 1, { '203.0.113.0/24': 1 }],
    [0, 3, { '203.0.113.0/24': 3 }],
  ]);
  // The next flush has nothing left over to retry.
  await verifyAt(hour + 240_000);
  await s.server.usage.flush();
  expect(s.server.usage.stats.failures).toBe(failuresBefore);
});
