// Verification analytics: counts per key, hour and outcome, and each key's
// latest refusals, written with the last-used flush in one statement, read
// through the API (and the SDK), kept for the retention and pruned.
import { generateKey } from '@keygate/core';
import { createKeygateClient } from '@keygate/sdk';
import { CreateApplicationDocument, CreateKeyDocument, SetIpRulesDocument } from '@keygate/sdk/documents';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let s: TestServer;
let sdk: ReturnType<typeof createKeygateClient>;
const ids: { app: string; a: string; b: string } = { app: '', a: '', b: '' };
const secrets: { a: string; b: string } = { a: '', b: '' };
const HOUR = 3_600_000;

beforeAll(async () => {
  s = await startTestServer({ KEYGATE_USAGE_FLUSH_MS: '3600000' });
  const token = await s.merchantToken('acme');
  sdk = createKeygateClient({ url: `${s.url}/graphql`, token });
  ids.app = ok(
    (await s.graphql(token, CreateApplicationDocument, { input: { name: 'Metered' } })).data.createApplication,
  ).application.id;
  for (const name of ['a', 'b'] as const) {
    const created = (
      await s.graphql(token, CreateKeyDocument, { input: { applicationId: ids.app, name, access: 'READ_ONLY' } })
    ).data.createKey;
    ids[name] = ok(created).key.id;
    secrets[name] = ok(created).secret;
  }
  await s.graphql(token, SetIpRulesDocument, {
    input: { keyId: ids.b, rules: [{ cidr: '203.0.113.0/24', action: 'DENY' }] },
  });
});
afterAll(() => s?.close());

const verify = async (key: string, ip: string, requiredAccess?: 'FULL_ACCESS') =>
  (await s.server.verifier.verify({ key, ip, ...(requiredAccess ? { requiredAccess } : {}) })).code;
const range = () => ({
  from: new Date(Date.now() - HOUR).toISOString(),
  to: new Date(Date.now() + HOUR).toISOString(),
});
const total = (buckets: { valid: number; refused: number }[]) =>
  buckets.reduce((sum, b) => ({ valid: sum.valid + b.valid, refused: sum.refused + b.refused }), {
    valid: 0,
    refused: 0,
  });

it('counts every verification of a known key by outcome, written in one statement per flush', async () => {
  for (let i = 0; i < 7; i++) expect(await verify(secrets.a, '198.51.100.1')).toBe('VALID');
  for (let i = 0; i < 3; i++)
    expect(await verify(secrets.a, '198.51.100.2', 'FULL_ACCESS')).toBe('INSUFFICIENT_ACCESS');
  for (let i = 0; i < 4; i++) expect(await verify(secrets.b, '203.0.113.5')).toBe('IP_DENIED');
  for (let i = 0; i < 2; i++) expect(await verify(secrets.b, '198.51.100.3')).toBe('VALID');
  // Unknown keys belong to nobody: they are not counted for any key.
  expect(await verify(generateKey('live').secret, '198.51.100.4')).toBe('NOT_FOUND');

  const { statements } = await s.db.countStatements(() => s.server.usage.flush());
  expect(statements).toHaveLength(1);
  // The same statement wrote what the valid verifications needed and where they came from.
  const observed = await s.db.prisma.keyObservation.findMany({ select: { readCount: true, validNetworks: true } });
  expect(observed).toEqual(expect.arrayContaining([{ readCount: 7, validNetworks: { '198.51.100.0/24': 7 } }]));
  // The webhook worker's timed poll is left out of counts (it may land in any window).
  expect((await s.db.countStatements(() => s.server.webhooks.runOnce())).statements).toEqual([]);

  const a = await sdk.keys.usage(ids.a, range());
  expect(a && total(a.buckets)).toEqual({ valid: 7, refused: 3 });
  expect(a?.recentRefusals.map((r) => [r.code, r.clientIp])).toEqual(
    Array.from({ length: 3 }, () => ['INSUFFICIENT_ACCESS', '198.51.100.2']),
  );
  const b = await sdk.keys.usage(ids.b, range());
  expect(b && total(b.buckets)).toEqual({ valid: 2, refused: 4 });
  expect(b?.recentRefusals[0]).toMatchObject({ code: 'IP_DENIED', clientIp: '203.0.113.5' });
  const app = await sdk.applications.usage(ids.app, { ...range(), granularity: 'DAY' });
  expect(app && total(app)).toEqual({ valid: 9, refused: 7 });

  // The next flush adds to the same hour's counts.
  for (let i = 0; i < 2; i++) await verify(secrets.a, '198.51.100.1');
  await s.server.usage.flush();
  expect(total((await sdk.keys.usage(ids.a, range()))!.buckets)).toEqual({ valid: 9, refused: 3 });
});

it('fills every bucket of the range, refuses a range it cannot answer, and hides other merchants’ keys', async () => {
  const from = new Date(Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR);
  const buckets = await sdk.keys.usage(ids.a, {
    from: from.toISOString(),
    to: new Date(from.getTime() + 6 * HOUR).toISOString(),
  });
  expect(buckets?.buckets.map((bucket) => Date.parse(bucket.start) - from.getTime())).toEqual(
    [0, 1, 2, 3, 4, 5].map((h) => h * HOUR),
  );
  expect(buckets?.buckets.slice(0, 5).every((bucket) => bucket.valid === 0 && bucket.refused === 0)).toBe(true);
  await expect(sdk.keys.usage(ids.a, { from: range().to, to: range().from })).rejects.toMatchObject({
    code: 'BAD_USER_INPUT',
  });
  await expect(
    sdk.keys.usage(ids.a, { from: new Date(Date.now() - 40 * 86_400_000).toISOString(), to: range().to }),
  ).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  const globex = createKeygateClient({ url: `${s.url}/graphql`, token: await s.merchantToken('globex') });
  expect(await globex.keys.usage(ids.a, range())).toBeNull();
  expect(await globex.applications.usage(ids.app, range())).toBeNull();
});

it('prunes counts past the retention and all but the newest 100 refusals of a key', async () => {
  const keyId = Buffer.from(ids.b, 'base64').toString().split(':')[1]!;
  const old = new Date(Math.floor((Date.now() - 91 * 86_400_000) / HOUR) * HOUR);
  await s.db.prisma.keyUsage.create({ data: { keyId, hour: old, code: 'VALID', count: 5 } });
  for (let i = 0; i < 105; i++) await verify(secrets.b, '203.0.113.9');
  await s.server.usage.flush();
  expect(await s.db.prisma.keyRefusal.count({ where: { keyId } })).toBeGreaterThan(100);
  await s.server.usage.prune();
  expect(await s.db.prisma.keyUsage.count({ where: { keyId, hour: old } })).toBe(0);
  expect(await s.db.prisma.keyUsage.count({ where: { keyId } })).toBeGreaterThan(0);
  expect(await s.db.prisma.keyRefusal.count({ where: { keyId } })).toBe(100);
  const newest = await sdk.keys.usage(ids.b, { ...range(), refusals: 100 });
  expect(newest?.recentRefusals).toHaveLength(100);
  expect(newest?.recentRefusals.every((r) => r.clientIp === '203.0.113.9')).toBe(true);
});
