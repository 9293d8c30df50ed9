// What the dashboard's overview asks for: usage of all a merchant's keys, refusals by reason,
// and keys nobody used for a while. Each counts the caller's own keys only.
import { decodeGlobalId } from '@keygate/core';
import {
  CreateApplicationDocument,
  CreateKeyDocument,
  OverviewDocument,
  RevokeKeyDocument,
} from '@keygate/sdk/documents';
import { writeUsage } from '@keygate/server/verification';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let s: TestServer;
const DAY = 86_400_000;
const HOUR = 3_600_000;
const tokens: Record<string, string> = {};
const keys: Record<string, string> = {};

async function key(merchant: string, app: string, name: string) {
  const created = ok(
    (await s.graphql(tokens[merchant]!, CreateKeyDocument, { input: { applicationId: app, name } })).data.createKey,
  );
  keys[name] = created.key.id;
  return decodeGlobalId(created.key.id).id;
}

beforeAll(async () => {
  s = await startTestServer();
  for (const merchant of ['acme', 'globex']) tokens[merchant] = await s.merchantToken(merchant);
  const app = async (merchant: string) =>
    ok(
      (await s.graphql(tokens[merchant]!, CreateApplicationDocument, { input: { name: 'Shop' } })).data
        .createApplication,
    ).application.id;
  const [acmeApp, globexApp] = [await app('acme'), await app('globex')];
  const now = Date.now();
  const hour = new Date(Math.floor(now / HOUR) * HOUR - HOUR);
  const busy = await key('acme', acmeApp, 'busy');
  const stale = await key('acme', acmeApp, 'stale');
  const never = await key('acme', acmeApp, 'never');
  await key('acme', acmeApp, 'fresh');
  const gone = await key('acme', acmeApp, 'revoked-old');
  await s.graphql(tokens.acme!, RevokeKeyDocument, { input: { id: keys['revoked-old']! } });
  const other = await key('globex', globexApp, 'globex-old');
  const prisma = s.db.prisma;
  // Made 40 days ago: "stale" last used 35 days ago, "never" never, "busy" an hour ago.
  for (const id of [busy, stale, never, gone, other]) {
    await prisma.apiKey.update({ where: { id }, data: { createdAt: new Date(now - 40 * DAY) } });
  }
  await prisma.apiKeyLastUse.create({ data: { keyId: stale, at: new Date(now - 35 * DAY) } });
  await prisma.apiKeyLastUse.create({ data: { keyId: busy, at: new Date(now - HOUR) } });
  // As a usage flush writes counts (per key, application and merchant).
  const at = hour.toISOString();
  await writeUsage(prisma, {
    uses: [],
    refusals: [],
    counts: [
      { key_id: busy, hour: at, code: 'VALID', count: 900 },
      { key_id: busy, hour: at, code: 'RATE_LIMITED', count: 40 },
      { key_id: busy, hour: at, code: 'IP_DENIED', count: 7 },
      { key_id: stale, hour: at, code: 'IP_DENIED', count: 3 },
      { key_id: stale, hour: at, code: 'EXPIRED', count: 1 },
      // Another merchant's traffic counts for nobody else.
      { key_id: other, hour: at, code: 'VALID', count: 5000 },
      { key_id: other, hour: at, code: 'REVOKED', count: 500 },
    ],
  });
});
afterAll(() => s?.close());

const overview = (merchant: string, unusedForSeconds = 30 * 86_400) => {
  const to = Math.ceil(Date.now() / HOUR) * HOUR;
  return s.graphql(tokens[merchant]!, OverviewDocument, {
    from: new Date(to - DAY).toISOString(),
    to: new Date(to).toISOString(),
    granularity: 'HOUR',
    expiringWithinSeconds: 7 * 86_400,
    unusedForSeconds,
  });
};

it("sums the usage of all the merchant's keys, and its refusals by reason, most first", async () => {
  const { data, errors } = await overview('acme');
  expect(errors).toBeUndefined();
  const total = (field: 'valid' | 'rateLimited' | 'refused' | 'usageExceeded') =>
    data.viewer.usage.reduce((sum, bucket) => sum + bucket[field], 0);
  expect([total('valid'), total('rateLimited'), total('refused')]).toEqual([900, 40, 11]);
  expect(data.viewer.usage).toHaveLength(24);
  expect(data.viewer.refusalReasons).toEqual([
    { code: 'RATE_LIMITED', count: 40 },
    { code: 'IP_DENIED', count: 10 },
    { code: 'EXPIRED', count: 1 },
  ]);
  const globex = (await overview('globex')).data;
  expect(globex.viewer.usage.reduce((sum, bucket) => sum + bucket.valid, 0)).toBe(5000);
  expect(globex.viewer.refusalReasons).toEqual([{ code: 'REVOKED', count: 500 }]);
});

it('lists keys unused for a while: made before then and not used since, not revoked, only its own', async () => {
  const { data } = await overview('acme');
  expect(data.unusedKeys.edges.map((edge) => edge.node.name).sort()).toEqual(['never', 'stale']);
  expect(data.unusedKeys.totalCount).toBe(2);
  // Over a longer span, only the key unused for all of it.
  expect((await overview('acme', 36 * 86_400)).data.unusedKeys.edges.map((edge) => edge.node.name)).toEqual(['never']);
  expect((await overview('globex')).data.unusedKeys.edges.map((edge) => edge.node.name)).toEqual(['globex-old']);
});

it('refuses spans it cannot answer, naming the argument', async () => {
  for (const seconds of [60, 86_399, 31_536_001]) {
    const { errors } = await overview('acme', seconds);
    expect(errors?.[0]?.message).toMatch(/unusedForSeconds must be from 86400/);
  }
  const tooLong = await s.graphql(tokens.acme!, OverviewDocument, {
    from: new Date(Date.now() - 500 * DAY).toISOString(),
    to: new Date().toISOString(),
    granularity: 'DAY',
    expiringWithinSeconds: 86_400,
    unusedForSeconds: 86_400,
  });
  expect(tooLong.errors?.length).toBeGreaterThan(0);
});
