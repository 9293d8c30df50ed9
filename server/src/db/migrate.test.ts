import { createHash } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MigrationError, type MigrationSession, migrate } from './migrate.ts';
import { type Migration, migrationsBefore, readMigrations } from './migrations.ts';

let db: PGlite;
let session: MigrationSession;
beforeEach(async () => {
  db = new PGlite();
  session = {
    query: async <T>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params)).rows,
    exec: async (script) => {
      await db.exec(script);
    },
  };
});
afterEach(() => db.close());

const migration = (name: string, sql: string): Migration => ({
  name,
  sql,
  checksum: createHash('sha256').update(sql).digest('hex'),
});
const first = migration('20260101000000_first', 'CREATE TABLE a (id int);\nCREATE TABLE b (id int);');
const second = migration('20260102000000_second', 'ALTER TABLE a ADD COLUMN name text;');

async function recorded() {
  return (
    await db.query<Record<string, unknown>>('SELECT * FROM _prisma_migrations ORDER BY started_at, migration_name')
  ).rows;
}

describe('migrate', () => {
  it('records each migration as prisma migrate deploy does', async () => {
    expect(await migrate(session, [first])).toEqual({ applied: [first.name], modified: [] });
    const [row] = await recorded();
    expect(row).toMatchObject({
      checksum: first.checksum,
      migration_name: first.name,
      logs: null,
      rolled_back_at: null,
      applied_steps_count: 1,
    });
    expect(row!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(row!.finished_at).toBeInstanceOf(Date);
    expect((row!.finished_at as Date).getTime()).toBeGreaterThanOrEqual((row!.started_at as Date).getTime());
  });

  it('applies only what is pending, in order, and nothing twice', async () => {
    await migrate(session, [first]);
    expect(await migrate(session, [first, second])).toEqual({ applied: [second.name], modified: [] });
    expect(await migrate(session, [first, second])).toEqual({ applied: [], modified: [] });
    expect((await recorded()).map((r) => r.migration_name)).toEqual([first.name, second.name]);
    await db.query("INSERT INTO a (id, name) VALUES (1, 'x')");
  });

  it('rolls a failing migration back whole, keeps the earlier ones, and says which failed', async () => {
    const broken = migration('20260103000000_broken', 'CREATE TABLE c (id int);\nSELECT * FROM missing_table;');
    await expect(migrate(session, [first, broken])).rejects.toThrow(/20260103000000_broken failed and was rolled back/);
    expect((await recorded()).map((r) => r.migration_name)).toEqual([first.name]);
    const tables = await db.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    );
    expect(tables.rows.map((r) => r.tablename)).toEqual(['_prisma_migrations', 'a', 'b']);
  });

  it('reports applied migrations whose file changed since', async () => {
    await migrate(session, [first]);
    const edited = migration(first.name, `${first.sql}\n-- edited`);
    expect(await migrate(session, [edited])).toEqual({ applied: [], modified: [first.name] });
  });

  it('refuses to go on after a migration Prisma recorded as failed', async () => {
    await migrate(session, [first]);
    await db.query(
      "INSERT INTO _prisma_migrations (id, checksum, migration_name, applied_steps_count) VALUES ('x', 'y', '20260102000000_second', 0)",
    );
    await expect(migrate(session, [first, second])).rejects.toBeInstanceOf(MigrationError);
  });

  it('applies the project’s real migrations to an empty database', async () => {
    const result = await migrate(session);
    expect(result.applied).toEqual(readMigrations().map((m) => m.name));
    const tables = await db.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    );
    expect(tables.rows.map((r) => r.tablename)).toEqual([
      '_prisma_migrations',
      'api_key_last_used',
      'api_keys',
      'application_usage',
      'applications',
      'audit_events',
      'events',
      'identities',
      'identity_rate_limit_windows',
      'import_prefixes',
      'ip_rules',
      'key_anomalies',
      'key_expiry_notices',
      'key_hour_norms',
      'key_observations',
      'key_observations_default',
      'key_policies',
      'key_refusals',
      'key_roles',
      'key_usage',
      'key_usage_default',
      'key_usage_notices',
      'leak_findings',
      'merchant_usage',
      'merchants',
      'rate_limit_windows',
      'roles',
      'verifier_usage_reporters',
      'webhook_deliveries',
      'webhook_endpoints',
    ]);
  });

  it('moves the last-used times keys had into their own table', async () => {
    await migrate(session, migrationsBefore('move_last_use_to_its_own_table'));
    await db.exec(`
      INSERT INTO merchants (id) VALUES ('m1');
      INSERT INTO applications (id, merchant_id, name, normalized_name, updated_at)
        VALUES ('00000000-0000-7000-8000-000000000001', 'm1', 'Checkout', 'checkout', now());
      INSERT INTO api_keys (id, merchant_id, application_id, name, prefix, hash, access, environment, updated_at,
        last_used_at, last_used_ip)
      SELECT ('00000000-0000-7000-8000-' || lpad(n::text, 12, '0'))::uuid, 'm1', '00000000-0000-7000-8000-000000000001',
        'key ' || n, 'kg_live_' || n, lpad(n::text, 64, '0'), 'FULL_ACCESS', 'LIVE', now(),
        CASE WHEN n % 3 = 0 THEN NULL ELSE timestamptz '2026-11-30 12:00:00.123+00' + n * interval '1 second' END,
        CASE WHEN n % 3 = 1 THEN '2001:db8::' || n ELSE NULL END
      FROM generate_series(1, 300) AS n;`);
    await migrate(session, readMigrations());
    const moved = await db.query<{ key_id: string; at: Date; ip: string | null }>(
      'SELECT key_id, at, ip FROM api_key_last_used ORDER BY key_id',
    );
    expect(moved.rows).toHaveLength(200);
    expect(moved.rows[0]).toEqual({
      key_id: '00000000-0000-7000-8000-000000000001',
      at: new Date('2026-11-30T12:00:01.123Z'),
      ip: '2001:db8::1',
    });
    expect(moved.rows[1]).toEqual({
      key_id: '00000000-0000-7000-8000-000000000002',
      at: new Date('2026-11-30T12:00:02.123Z'),
      ip: null,
    });
    const columns = await db.query(
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'api_keys' AND column_name LIKE 'last_used%'",
    );
    expect(columns.rows).toEqual([]);
    // Deleting a key deletes its row.
    await db.query("DELETE FROM api_keys WHERE id = '00000000-0000-7000-8000-000000000001'");
    expect((await db.query('SELECT count(*)::int AS n FROM api_key_last_used')).rows).toEqual([{ n: 199 }]);
  });

  it('adds up the hourly counts keys had per application and per merchant', async () => {
    await migrate(session, migrationsBefore('add_usage_rollups'));
    await db.exec(`
      INSERT INTO merchants (id) VALUES ('m1'), ('m2');
      INSERT INTO applications (id, merchant_id, name, normalized_name, updated_at) VALUES
        ('00000000-0000-7000-8000-000000000001', 'm1', 'Checkout', 'checkout', now()),
        ('00000000-0000-7000-8000-000000000002', 'm1', 'Refunds', 'refunds', now()),
        ('00000000-0000-7000-8000-000000000003', 'm2', 'Checkout', 'checkout', now());
      INSERT INTO api_keys (id, merchant_id, application_id, name, prefix, hash, access, environment, updated_at)
      SELECT ('00000000-0000-7000-9000-' || lpad(n::text, 12, '0'))::uuid, CASE WHEN n % 3 = 2 THEN 'm2' ELSE 'm1' END,
        ('00000000-0000-7000-8000-' || lpad((n % 3 + 1)::text, 12, '0'))::uuid,
        'key ' || n, 'kg_live_' || n, lpad(n::text, 64, '0'), 'FULL_ACCESS', 'LIVE', now()
      FROM generate_series(1, 30) AS n;
      INSERT INTO key_usage (key_id, hour, code, count)
      SELECT k.id, timestamptz '2026-12-01 00:00:00+00' + h * interval '1 hour', c, 110000000 + h
      FROM api_keys k, generate_series(0, 47) AS h, unnest(ARRAY['VALID', 'RATE_LIMITED']) AS c;`);
    await migrate(session, readMigrations());
    const sums = async (sql: string) => (await db.query<{ owner: string; n: string }>(sql)).rows;
    // Each application's and merchant's rows add up to its keys' (10 keys each; m1 has 20).
    expect(
      await sums(`SELECT application_id::text AS owner, sum(count)::text AS n, count(*)::text AS rows
        FROM application_usage GROUP BY 1 ORDER BY 1`),
    ).toEqual(
      ['1', '2', '3'].map((a) => ({
        owner: `00000000-0000-7000-8000-00000000000${a}`,
        n: String(10 * 2 * (48 * 110_000_000 + (47 * 48) / 2)),
        rows: '96',
      })),
    );
    expect(
      await sums(
        'SELECT merchant_id AS owner, sum(count)::text AS n, count(*)::text AS rows FROM merchant_usage GROUP BY 1 ORDER BY 1',
      ),
    ).toEqual([
      { owner: 'm1', n: String(20 * 2 * (48 * 110_000_000 + (47 * 48) / 2)), rows: '96' },
      { owner: 'm2', n: String(10 * 2 * (48 * 110_000_000 + (47 * 48) / 2)), rows: '96' },
    ]);
    // One merchant's hour: 20 keys of 110,000,047 each, past a 32-bit integer (a bigint column).
    expect(
      await sums(`SELECT merchant_id AS owner, count::text AS n FROM merchant_usage
        WHERE hour = '2026-12-02 23:00:00+00' AND code = 'VALID' ORDER BY 1`),
    ).toEqual([
      { owner: 'm1', n: String(20 * 110_000_047) },
      { owner: 'm2', n: String(10 * 110_000_047) },
    ]);
  });
});
