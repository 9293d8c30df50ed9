// GET /metrics, scraped as Prometheus scrapes it and read with a Prometheus
// text-format parser from npm: verifications by path and code, cache hits and
// misses, GraphQL operations by name and error code, process metrics; and only
// for a bearer of KEYGATE_METRICS_TOKEN.
import { generateKey } from '@keygate/core';
import { createKeygateClient } from '@keygate/sdk';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

const TOKEN = 'metrics-token-0123456789abcdef';
let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ KEYGATE_METRICS_TOKEN: TOKEN });
});
afterAll(() => s?.close());

async function scrape() {
  const response = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  const families = parsePrometheusTextFormat(await response.text());
  const value = (name: string, labels: Record<string, string> = {}) => {
    const family = families.find((f) => f.name === name);
    const metric = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
    return metric?.value === undefined ? undefined : Number(metric.value);
  };
  return { families, value };
}

it('labels only the SDK’s own operations by name: 2,000 made-up names are one series', async () => {
  const token = await s.merchantToken('namer');
  const send = (query: string) =>
    fetch(`${s.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query }),
    });
  // 2,000 names over 50 connections: every name reaches the server (2,000 sockets opened at once
  // overflow a loaded machine's accept queue, which is not what this is about).
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      for (let i = next++; i < 2000; i = next++) {
        const response = await send(`query Made${i}Up${Math.random().toString(36).slice(2)} { viewer { id } }`);
        expect(response.status).toBe(200);
      }
    }),
  );
  await send('query Viewer { viewer { id } }');
  await send('{ viewer { id } }');
  const { families, value } = await scrape();
  const series = families.find((f) => f.name === 'keygate_graphql_operations_total')?.metrics ?? [];
  expect(series.some((m) => /^Made/.test(String(m.labels?.operation)))).toBe(false);
  expect(value('keygate_graphql_operations_total', { operation: 'other', error_code: '' })).toBe(2000);
  expect(value('keygate_graphql_operations_total', { operation: 'Viewer', error_code: '' })).toBe(1);
  expect(value('keygate_graphql_operations_total', { operation: 'anonymous', error_code: '' })).toBe(1);
  expect(series.length).toBeLessThan(10);
});

it('counts verifications by path and code, cache hits and misses, and GraphQL operations', async () => {
  const token = await s.merchantToken('acme');
  const sdk = createKeygateClient({ url: `${s.url}/graphql`, token });
  const app = await sdk.applications.create({ name: 'Measured' });
  if (!app.ok) throw new Error('setup');
  const key = await sdk.keys.create({ applicationId: app.value.id, name: 'k' });
  if (!key.ok) throw new Error('setup');
  for (let i = 0; i < 3; i++) expect((await s.forwardAuth({ 'x-api-key': key.value.secret })).status).toBe(200);
  for (let i = 0; i < 2; i++)
    expect((await s.forwardAuth({ 'x-api-key': generateKey('live').secret })).status).toBe(401);
  expect((await s.forwardAuth({})).code).toBe('MISSING_KEY');
  const service = createKeygateClient({ url: `${s.url}/graphql`, token: await s.verifierToken() });
  for (let i = 0; i < 2; i++) expect(await service.keys.verify({ key: key.value.secret })).toMatchObject({ ok: true });
  await sdk.applications.create({ name: 'Measured' }); // a name conflict: a typed error, not a GraphQL error

  const { families, value } = await scrape();
  expect(value('keygate_verifications_total', { path: 'forward_auth', code: 'VALID' })).toBe(3);
  expect(value('keygate_verifications_total', { path: 'forward_auth', code: 'NOT_FOUND' })).toBe(2);
  expect(value('keygate_verifications_total', { path: 'forward_auth', code: 'MISSING_KEY' })).toBe(1);
  expect(value('keygate_verifications_total', { path: 'graphql', code: 'VALID' })).toBe(2);
  const latency = families.find((f) => f.name === 'keygate_verification_duration_seconds');
  expect(latency?.type).toBe('HISTOGRAM');
  // This parser keeps one series of a histogram, without its labels: its buckets are checked.
  const buckets = latency?.metrics[0]?.buckets ?? {};
  expect(Object.keys(buckets).sort()).toEqual(
    ['0.000001', '0.000005', '0.00002', '0.0001', '0.0005', '0.002', '0.01', '0.05', '0.25', '1', '+Inf'].sort(),
  );
  expect(Number(buckets['+Inf'])).toBeGreaterThanOrEqual(2);
  // The first lookup of each secret reads the database; the repeats are answered from memory.
  expect(value('keygate_cache_misses_total')).toBe(3);
  expect(value('keygate_cache_hits_total')).toBe(4);
  expect(value('keygate_cache_entries', { kind: 'key' })).toBe(1);
  expect(value('keygate_cache_entries', { kind: 'unknown' })).toBe(2);
  expect(value('keygate_listen_connected')).toBe(1);
  expect(value('keygate_invalidations_received_total')).toBeGreaterThanOrEqual(1);
  expect(value('keygate_graphql_operations_total', { operation: 'CreateApplication', error_code: '' })).toBe(2);
  expect(value('keygate_graphql_operations_total', { operation: 'CreateKey', error_code: '' })).toBe(1);
  expect(families.find((f) => f.name === 'keygate_process_resident_memory_bytes')?.type).toBe('GAUGE');
  if (s.db.storage.kind === 'postgres') {
    // The query pool: its size as configured, and connections that served the requests above.
    expect(value('keygate_db_pool_connections', { state: 'max' })).toBe(s.db.storage.poolSize);
    const open =
      value('keygate_db_pool_connections', { state: 'idle' })! +
      value('keygate_db_pool_connections', { state: 'in_use' })!;
    expect(open).toBeGreaterThanOrEqual(1);
    expect(open).toBeLessThanOrEqual(s.db.storage.poolSize!);
    expect(value('keygate_db_pool_waiting')).toBe(0);
  } else {
    // The embedded database has no pool: no series rather than zeros.
    expect(value('keygate_db_pool_connections', { state: 'max' })).toBeUndefined();
  }
  // Counters only go up between scrapes.
  await s.forwardAuth({ 'x-api-key': key.value.secret });
  expect((await scrape()).value('keygate_verifications_total', { path: 'forward_auth', code: 'VALID' })).toBe(4);
});

it('answers only a bearer of the token', async () => {
  expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
  expect(
    (await fetch(`${s.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789ab' } })).status,
  ).toBe(401);
  const off = await startTestServer();
  try {
    const response = await fetch(`${off.url}/metrics`);
    expect(response.status).toBe(404);
    expect(await response.text()).toContain('KEYGATE_METRICS_TOKEN');
  } finally {
    await off.close();
  }
});
