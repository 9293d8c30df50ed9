// The hourly tables as day partitions, on the embedded database and on PostgreSQL alike: the
// migration from the unpartitioned tables keeps every row; rows of a day without a partition wait
// in the default one and move to their day's partition when it is made; usage read across a day
// boundary gives the same figures wherever the rows live; the retention job drops a day whole,
// without deleting rows; instances keeping the partitions at once do not trip over each other.
import { createKeygateClient } from '@keygate/sdk';
import { type MigrationSession, migrate, migrationsBefore, readMigrations } from '@keygate/server';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase, openTestDatabase, type TestDatabase, testDbKind } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A session on a new, empty database of the kind under test, and a way to close it. */
async function emptyDatabase(): Promise<{ session: MigrationSession; close(): Promise<void> }> {
  if (testDbKind === 'postgres') {
    const client = new pg.Client({ connectionString: await createPostgresDatabase() });
    await client.connect();
    return {
      session: {
        query: async <T>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as T[],
        exec: async (script) => {
          await client.query(script);
        },
      },
      close: () => client.end(),
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const db = new PGlite();
  return {
    session: {
      query: async <T>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params)).rows,
      exec: async (script) => {
        await db.exec(script);
      },
    },
    close: () => db.close(),
  };
}

describe('the migration to day partitions', () => {
  it('keeps every row of a week of usage and observations, each day in its own partition', async () => {
    const { session, close } = await emptyDatabase();
    try {
      await migrate(session, migrationsBefore('partition_usage_by_day'));
      // 60 keys, a week of hours (the week starting mid-day, so it spans 8 UTC days), two outcomes.
      await session.exec(`
        INSERT INTO merchants (id) VALUES ('acme');
        INSERT INTO applications (id, merchant_id, name, normalized_name, updated_at)
          VALUES ('00000000-0000-4000-8000-000000000001', 'acme', 'Orders', 'orders', now());
        INSERT INTO api_keys (id, merchant_id, application_id, name, prefix, hash, access, environment, updated_at)
          SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'acme', '00000000-0000-4000-8000-000000000001',
                 'key ' || n, 'kg_live_' || n, lpad(n::text, 64, '0'), 'FULL_ACCESS', 'LIVE', now()
          FROM generate_series(1, 60) AS n;
        INSERT INTO key_usage (key_id, hour, code, count)
          SELECT k.id, timestamptz '2026-11-20 13:00:00+00' + h * interval '1 hour', c, (h * 7 + length(k.name)) % 97 + 1
          FROM api_keys k, generate_series(0, 167) AS h, unnest(ARRAY['VALID', 'RATE_LIMITED']) AS c;
        INSERT INTO key_observations (key_id, hour, read_count, write_count, scopes, valid_networks)
          SELECT k.id, timestamptz '2026-11-20 13:00:00+00' + h * interval '1 hour', h, h % 5,
                 jsonb_build_object('orders:read', h), jsonb_build_object('203.0.113.0/24', h + 1)
          FROM api_keys k, generate_series(0, 167, 3) AS h;`);
      const fingerprint = async () =>
        session.query<{ usage: string; observations: string }>(`
          SELECT (SELECT count(*) || ':' || sum(count) || ':' || md5(string_agg(key_id::text || hour::text || code || count, ',' ORDER BY key_id, hour, code)) FROM key_usage) AS usage,
                 (SELECT count(*) || ':' || md5(string_agg(key_id::text || hour::text || read_count || write_count || scopes::text || valid_networks::text || refused_networks::text, ',' ORDER BY key_id, hour)) FROM key_observations) AS observations`);
      const before = await fingerprint();
      expect(before[0]!.usage).toMatch(/^20160:/); // 60 × 168 × 2

      await migrate(session, readMigrations());
      expect(await fingerprint()).toEqual(before);
      const partitions = await session.query<{ parent: string; name: string; rows: string }>(`
        SELECT p.relname AS parent, c.relname AS name,
               (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', c.relname), false, true, '')))[1]::text AS rows
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname IN ('key_usage', 'key_observations') ORDER BY 1, 2`);
      const usage = partitions.filter((p) => p.parent === 'key_usage');
      // 2026-11-20 13:00 + 167 h = 2026-11-27 12:00: eight days, and the (empty) default.
      expect(usage.map((p) => p.name)).toEqual([
        'key_usage_default',
        ...['20', '21', '22', '23', '24', '25', '26', '27'].map((d) => `key_usage_p202611${d}`),
      ]);
      expect(usage.map((p) => Number(p.rows))).toEqual([0, 60 * 11 * 2, ...Array(6).fill(60 * 24 * 2), 60 * 13 * 2]);
      expect(partitions.filter((p) => p.parent === 'key_observations').map((p) => p.name)).toHaveLength(9);
      const kinds = await session.query<{ kind: string }>(
        "SELECT relkind::text AS kind FROM pg_class WHERE relname = 'key_usage'",
      );
      expect(kinds).toEqual([{ kind: 'p' }]);
      // Deleting a key still deletes its usage (the foreign key is on the partitioned table).
      await session.exec(`DELETE FROM api_keys WHERE name = 'key 1'`);
      const left = await session.query<{ n: string }>('SELECT count(*)::text AS n FROM key_usage');
      expect(left).toEqual([{ n: String(59 * 168 * 2) }]);
    } finally {
      await close();
    }
  });
});

describe('day partitions while serving', () => {
  let db: TestDatabase;
  let s: TestServer;
  let now = Date.now();
  let sdk: ReturnType<typeof createKeygateClient>;
  let keyId: string;
  let appId: string;
  let secret: string;
  // Two days ago 22:00 UTC to yesterday 02:00: always in the past, across one midnight.
  const midnight = Math.floor(Date.now() / DAY) * DAY - DAY;
  const hours = [midnight - 2 * HOUR, midnight - HOUR, midnight, midnight + HOUR];
  const perHour = [3, 2, 4, 1];
  const range = { from: new Date(hours[0]!).toISOString(), to: new Date(midnight + 2 * HOUR).toISOString() };
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');

  beforeAll(async () => {
    db = await openTestDatabase();
    s = await startTestServer({ KEYGATE_USAGE_RETENTION_DAYS: '7', KEYGATE_USAGE_FLUSH_MS: '3600000' }, db, {
      clock: () => now,
    });
    sdk = createKeygateClient({ url: `${s.url}/graphql`, token: await s.merchantToken('acme') });
    const app = await sdk.applications.create({ name: 'Partitioned' });
    if (!app.ok) throw new Error('no application');
    appId = app.value.id;
    const key = await sdk.keys.create({ applicationId: appId, name: 'across midnight' });
    if (!key.ok) throw new Error('no key');
    keyId = key.value.key.id;
    secret = key.value.secret;
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await db?.close();
  });

  const where = async () =>
    db.prisma.$queryRawUnsafe<{ partition: string; n: number }[]>(
      'SELECT tableoid::regclass::text AS partition, sum(count)::int AS n FROM key_usage GROUP BY 1 ORDER BY 1',
    );
  const figures = async () => {
    const key = await sdk.keys.usage(keyId, range);
    const app = await sdk.applications.usage(appId, range);
    return {
      key: key?.buckets.map((b) => b.valid),
      app: app?.map((b) => b.valid),
    };
  };

  it('keeps rows of a day without a partition in the default one, then moves them to their day', async () => {
    for (const [i, hour] of hours.entries()) {
      for (let n = 0; n < perHour[i]!; n++) {
        now = hour + 30 * 60_000;
        expect((await s.server.verifier.verify({ key: secret })).code).toBe('VALID');
      }
    }
    now = Date.now();
    await s.server.usage.flush();
    // Those days had no partition: the rows wait in the default one, and read the same.
    expect(await where()).toEqual([{ partition: 'key_usage_default', n: 10 }]);
    const before = await figures();
    expect(before.key).toEqual(perHour);
    expect(before.app).toEqual(perHour);

    const changes = await s.server.usage.partitions(now);
    expect(changes.created).toEqual(
      expect.arrayContaining([`key_usage_p${day(midnight - DAY)}`, `key_usage_p${day(midnight)}`]),
    );
    expect(await where()).toEqual([
      { partition: `key_usage_p${day(midnight - DAY)}`, n: 5 },
      { partition: `key_usage_p${day(midnight)}`, n: 5 },
    ]);
    expect(await figures()).toEqual(before);
    // Today's and the next days' partitions exist before their first row.
    const names = (
      await db.prisma.$queryRawUnsafe<{ name: string }[]>(
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'key_usage'::regclass",
      )
    ).map((r) => r.name);
    for (let i = 0; i <= 2; i++) expect(names).toContain(`key_usage_p${day(now + i * DAY)}`);
  });

  it('drops a day whole once all of it is past the retention, deleting no rows, and keeps the rest', async () => {
    // Seven days after the first day ended, plus an hour: that day is past the retention, the next is not.
    const at = midnight + 7 * DAY + HOUR;
    const { statements } = await db.countStatements(() => s.server.usage.prune(at));
    expect(statements.some((sql) => sql.includes(`DROP TABLE "key_usage_p${day(midnight - DAY)}"`))).toBe(true);
    expect(statements.some((sql) => sql.includes(`DROP TABLE "key_observations_p${day(midnight - DAY)}"`))).toBe(true);
    expect(statements.filter((sql) => /DELETE FROM key_(usage|observations)\b(?!_default)/.test(sql))).toEqual([]);
    expect(await where()).toEqual([{ partition: `key_usage_p${day(midnight)}`, n: 5 }]);
    // The next day is kept whole, its first hour included (a day is kept at most one day longer).
    expect((await figures()).key).toEqual([0, 0, 4, 1]);
  });

  it('several instances keeping the partitions at once agree, and make each one once', async () => {
    const at = Date.now() + 10 * DAY; // days nobody has made yet (and the ones before now expire)
    const results = await Promise.all([s.server.usage.partitions(at), s.server.usage.partitions(at)]);
    const created = results.flatMap((r) => r.created).filter((name) => name.startsWith('key_usage_'));
    expect(created.sort()).toEqual([0, 1, 2].map((i) => `key_usage_p${day(at + i * DAY)}`));
  });
});
