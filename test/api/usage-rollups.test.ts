// An application's and a merchant's charts read their own hourly rows (application_usage,
// merchant_usage), which every usage flush adds to with the keys' own: the same numbers as adding
// up every key's rows, whoever wrote them (instances and verifiers, at once), never another
// merchant's, never twice for a report sent again, and pruned by whole days as the keys' rows are.
import { decodeGlobalId } from '@keygate/core';
import { createKeygateClient } from '@keygate/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let s: TestServer;
let verifierToken: string;
type Sdk = ReturnType<typeof createKeygateClient>;
const merchants: Record<string, { sdk: Sdk; token: string; apps: string[]; keys: string[][] }> = {};

beforeAll(async () => {
  s = await startTestServer({ KEYGATE_USAGE_FLUSH_MS: '60000' });
  verifierToken = await s.verifierToken();
  for (const merchant of ['acme', 'globex']) {
    const token = await s.merchantToken(merchant);
    const sdk = createKeygateClient({ url: `${s.url}/graphql`, token });
    const entry: (typeof merchants)[string] = { sdk, token, apps: [], keys: [] };
    for (const name of ['Checkout, EU production (Lisbon and Porto stores)', 'Refunds']) {
      const app = await sdk.applications.create({ name });
      if (!app.ok) throw new Error('setup');
      entry.apps.push(app.value.id);
      const keys: string[] = [];
      for (let i = 0; i < 6; i++) {
        const key = await sdk.keys.create({ applicationId: app.value.id, name: `Store terminal ${i}` });
        if (!key.ok) throw new Error('setup');
        keys.push(decodeGlobalId(key.value.key.id).id);
      }
      entry.keys.push(keys);
    }
    merchants[merchant] = entry;
  }
}, 120_000);
afterAll(() => s?.close());

const CODES = ['VALID', 'RATE_LIMITED', 'USAGE_EXCEEDED', 'IP_DENIED', 'REVOKED'] as const;

/** A week of hourly counts for these keys, as verifiers report them: [key, hour, code, count]. */
function week(keys: string[], seed: number, now: number): [string, string, string, number][] {
  const rows: [string, string, string, number][] = [];
  const last = Math.floor(now / HOUR) * HOUR;
  for (const [k, key] of keys.entries()) {
    for (let h = 0; h < 7 * 24; h++) {
      const hour = new Date(last - h * HOUR).toISOString();
      for (const [c, code] of CODES.entries()) {
        if ((h + k + c + seed) % (c + 1) === 0)
          rows.push([key, hour, code, 1 + ((h * 31 + k * 7 + c * 3 + seed) % 97)]);
      }
    }
  }
  return rows;
}

async function report(
  rows: [string, string, string, number][],
  reporter?: { id: string; seq: number },
  { observed = false } = {},
) {
  // With `observed`, each row also names its key's last use and what its hour needed, as a
  // verifier's report does: every statement of the flush then meets the other reports' rows.
  const keys = [...new Set(rows.map((r) => r[0]))];
  const hours = [...new Map(rows.map((r) => [`${r[0]} ${r[1]}`, r])).values()];
  const answer = await fetch(`${s.url}/v1/verifier/usage`, {
    method: 'POST',
    headers: { authorization: `Bearer ${verifierToken}` },
    body: JSON.stringify({
      ...(reporter ? { reporter } : {}),
      uses: observed
        ? keys.map((id) => ({ id, at: new Date().toISOString(), ip: '203.0.113.7', epoch: null, spent: 0 }))
        : [],
      refusals: [],
      counts: rows.map(([key_id, hour, code, count]) => ({ key_id, hour, code, count })),
      ...(observed
        ? {
            observations: hours.map(([key_id, hour]) => ({
              key_id,
              hour,
              read: 1,
              write: 0,
              scopes: { 'orders:read': 1 },
              valid_networks: { '203.0.113.0/24': 1 },
              refused_networks: {},
            })),
          }
        : {}),
    }),
  });
  return { status: answer.status, body: await answer.json() };
}

/** What adding up every key's rows says, per owner (application or merchant), hour and code. */
async function fromKeys(by: 'application_id' | 'merchant_id') {
  const rows = await s.db.prisma.$queryRawUnsafe<{ owner: string; hour: Date; code: string; n: string }[]>(
    `SELECT k.${by}::text AS owner, u.hour, u.code, sum(u.count)::text AS n
     FROM key_usage u JOIN api_keys k ON k.id = u.key_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
  );
  return rows.map((r) => `${r.owner} ${r.hour.toISOString()} ${r.code} ${r.n}`);
}
async function rolledUp(table: 'application_usage' | 'merchant_usage', by: 'application_id' | 'merchant_id') {
  const rows = await s.db.prisma.$queryRawUnsafe<{ owner: string; hour: Date; code: string; n: string }[]>(
    `SELECT ${by}::text AS owner, hour, code, count::text AS n FROM ${table} ORDER BY 1, 2, 3`,
  );
  return rows.map((r) => `${r.owner} ${r.hour.toISOString()} ${r.code} ${r.n}`);
}

/** Each bucket's four figures, as a chart reads them; the sum of the rows it was made from. */
function expectedBuckets(rows: [string, string, string, number][], keys: Set<string>, from: number, step: number) {
  const buckets = new Map<number, { valid: number; rateLimited: number; usageExceeded: number; refused: number }>();
  for (const [key, hour, code, count] of rows) {
    if (!keys.has(key)) continue;
    const start = from + Math.floor((Date.parse(hour) - from) / step) * step;
    const b = buckets.get(start) ?? { valid: 0, rateLimited: 0, usageExceeded: 0, refused: 0 };
    if (code === 'VALID') b.valid += count;
    else if (code === 'RATE_LIMITED') b.rateLimited += count;
    else if (code === 'USAGE_EXCEEDED') b.usageExceeded += count;
    else b.refused += count;
    buckets.set(start, b);
  }
  return buckets;
}

describe('application and merchant usage', () => {
  const now = Date.now();
  const all: [string, string, string, number][] = [];

  it('add up what many reports write at once, in any order, to exactly the keys’ sums', async () => {
    // 16 reports at once from "verifiers" of both merchants, each naming every key in its own
    // order: every report touches the same few application and merchant rows, and the same keys'
    // rows. Taken in hash order, those deadlocked (503s) before each statement took them sorted.
    const keys = Object.values(merchants).flatMap((m) => m.keys.flat());
    const reports = Array.from({ length: 16 }, (_, i) => {
      const rows = week(keys, i, now);
      for (let j = rows.length - 1; j > 0; j--) {
        const k = (j * 7919 + i * 104_729) % (j + 1);
        [rows[j], rows[k]] = [rows[k]!, rows[j]!];
      }
      return rows;
    });
    for (const rows of reports) all.push(...rows);
    const answers = await Promise.all(reports.map((rows) => report(rows, undefined, { observed: true })));
    expect(answers.map((a) => a.status)).toEqual(reports.map(() => 200));
    expect(await rolledUp('application_usage', 'application_id')).toEqual(await fromKeys('application_id'));
    expect(await rolledUp('merchant_usage', 'merchant_id')).toEqual(await fromKeys('merchant_id'));
    expect((await rolledUp('merchant_usage', 'merchant_id')).length).toBeGreaterThan(2 * 7 * 24);
    // Every report's observations of a key's hour were added (16 reports name each one it has).
    const observed = await s.db.prisma.keyObservation.groupBy({ by: ['keyId', 'hour'], _sum: { readCount: true } });
    const named = new Map<string, number>();
    for (const rows of reports) {
      for (const id of new Set(rows.map((r) => `${r[0]} ${Date.parse(r[1])}`))) named.set(id, (named.get(id) ?? 0) + 1);
    }
    expect(observed.length).toBe(named.size);
    for (const o of observed) expect(o._sum.readCount).toBe(named.get(`${o.keyId} ${o.hour.getTime()}`));
  }, 60_000);

  it('answer the charts with the same figures as the keys’ rows, and only the caller’s', async () => {
    const to = Math.ceil(now / HOUR) * HOUR + HOUR;
    const from = to - 7 * DAY - DAY;
    const acme = merchants.acme!;
    const globex = merchants.globex!;
    // An application's chart, by hour and by day.
    for (const [granularity, step, first] of [
      ['HOUR', HOUR, from],
      ['DAY', DAY, Math.floor(from / DAY) * DAY],
    ] as const) {
      const usage = await acme.sdk.applications.usage(acme.apps[0]!, {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        granularity,
      });
      const expected = expectedBuckets(all, new Set(acme.keys[0]), first, step);
      const got = (usage ?? []).filter((b) => b.valid + b.rateLimited + b.usageExceeded + b.refused > 0);
      expect(got.length).toBe(expected.size);
      for (const bucket of got) {
        const { valid, rateLimited, usageExceeded, refused } = bucket;
        expect({ valid, rateLimited, usageExceeded, refused }).toEqual(expected.get(Date.parse(bucket.start)));
      }
    }
    // The merchant's chart and its refusal reasons (the overview's), by day.
    const merchantChart = async (token: string) =>
      (
        await s.graphql(
          token,
          `query($from: DateTime!, $to: DateTime!) { viewer { usage(from: $from, to: $to, granularity: DAY) {
            start valid rateLimited usageExceeded refused } refusalReasons(from: $from, to: $to) { code count } } }`,
          { from: new Date(from).toISOString(), to: new Date(to).toISOString() } as never,
        )
      ).data as unknown as {
        viewer: {
          usage: { start: string; valid: number; rateLimited: number; usageExceeded: number; refused: number }[];
          refusalReasons: { code: string; count: number }[];
        };
      };
    for (const [name, m] of [
      ['acme', acme],
      ['globex', globex],
    ] as const) {
      const chart = await merchantChart(m.token);
      const mine = new Set(m.keys.flat());
      const expected = expectedBuckets(all, mine, Math.floor(from / DAY) * DAY, DAY);
      const got = chart.viewer.usage.filter((b) => b.valid + b.rateLimited + b.usageExceeded + b.refused > 0);
      expect(got.length, name).toBe(expected.size);
      for (const { start, ...figures } of got) expect(figures).toEqual(expected.get(Date.parse(start)));
      const reasons = new Map<string, number>();
      for (const [key, , code, count] of all) {
        if (mine.has(key) && code !== 'VALID') reasons.set(code, (reasons.get(code) ?? 0) + count);
      }
      expect(chart.viewer.refusalReasons).toEqual(
        [...reasons]
          .map(([code, count]) => ({ code, count }))
          .sort((a, b) => b.count - a.count || (a.code < b.code ? -1 : 1)),
      );
    }
    // Another merchant's application reads as missing, its figures nowhere.
    expect(
      await globex.sdk.applications.usage(acme.apps[0]!, {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
      }),
    ).toBeNull();
  });

  it('add a numbered report sent again only once', async () => {
    const [key] = merchants.acme!.keys[1]!;
    const hour = new Date(Math.floor(now / HOUR) * HOUR - 30 * DAY).toISOString();
    const before = await s.db.prisma.merchantUsage.findMany({ where: { merchantId: 'acme', hour: new Date(hour) } });
    expect(before).toEqual([]);
    const rows: [string, string, string, number][] = [[key!, hour, 'VALID', 41]];
    const reporter = { id: 'rollups-reporter-1', seq: 1 };
    expect((await report(rows, reporter)).body).toEqual({ ok: true, duplicate: false });
    expect((await report(rows, reporter)).body).toEqual({ ok: true, duplicate: true });
    const counted = async (table: 'merchantUsage' | 'applicationUsage') =>
      (
        await (s.db.prisma[table] as typeof s.db.prisma.merchantUsage).findMany({
          where: { hour: new Date(hour) },
          select: { count: true },
        })
      ).map((r) => Number(r.count));
    expect(await counted('merchantUsage')).toEqual([41]);
    expect(await counted('applicationUsage')).toEqual([41]);
  });

  it('keep a day until all of it is past the retention, as the keys’ day partitions are kept', async () => {
    const prune = Date.now();
    const oldestDay = Math.floor((prune - 90 * DAY) / DAY) * DAY; // KEYGATE_USAGE_RETENTION_DAYS: 90
    const [key] = merchants.globex!.keys[0]!;
    const gone = new Date(oldestDay - HOUR).toISOString();
    const kept = new Date(oldestDay).toISOString();
    expect(
      (
        await report([
          [key!, gone, 'VALID', 5],
          [key!, kept, 'VALID', 6],
        ])
      ).status,
    ).toBe(200);
    const hours = async (table: 'merchant_usage' | 'application_usage') =>
      (
        await s.db.prisma.$queryRawUnsafe<{ hour: Date }[]>(
          `SELECT hour FROM ${table} WHERE hour < $1 ORDER BY hour`,
          new Date(oldestDay + HOUR),
        )
      ).map((r) => r.hour.toISOString());
    expect(await hours('merchant_usage')).toEqual([gone, kept]);
    await s.server.usage.prune(prune);
    expect(await hours('merchant_usage')).toEqual([kept]);
    expect(await hours('application_usage')).toEqual([kept]);
    // The merchant's other rows stay.
    expect(await s.db.prisma.merchantUsage.count({ where: { merchantId: 'globex' } })).toBeGreaterThan(7 * 24);
  });
});
