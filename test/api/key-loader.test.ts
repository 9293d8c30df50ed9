// The database lookup behind every cache miss stays an index lookup however the key table grew
// after the lookup's plan was made: PL/pgSQL keeps a generic plan per connection, and one made
// while the table was small would scan all of it on every miss until the next ANALYZE.
import { randomUUID } from 'node:crypto';
import { generateKey } from '@keygate/core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => {
  await db.close();
});

/** One database session: the plan cache is per session. */
interface Session {
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  end(): Promise<void>;
}

async function session(): Promise<Session> {
  if (db.storage.kind === 'postgres') {
    const client = new pg.Client({ connectionString: db.storage.url });
    await client.connect();
    return { query: async (sql, params) => (await client.query(sql, params)).rows, end: () => client.end() };
  }
  // PGlite is one session.
  return {
    query: (sql, params = []) => db.prisma.$queryRawUnsafe<Record<string, unknown>[]>(sql, ...params),
    end: async () => {},
  };
}

it('reads a key through its indexes after the table grew from 2 to 3,002 keys since the plan was made', async () => {
  const merchant = `m_${randomUUID()}`;
  const app = randomUUID();
  const s = await session();
  try {
    await s.query('INSERT INTO merchants (id) VALUES ($1)', [merchant]);
    await s.query(
      "INSERT INTO applications (id, merchant_id, name, normalized_name, updated_at) VALUES ($1::uuid, $2, 'Checkout', 'checkout', now())",
      [app, merchant],
    );
    const insert = async (count: number) => {
      const keys = Array.from({ length: count }, () => generateKey('live'));
      await s.query(
        `INSERT INTO api_keys (id, merchant_id, application_id, name, prefix, hash, access, environment, metadata, updated_at)
         SELECT gen_random_uuid(), $1, $2::uuid, 'Checkout backend for a long merchant name, production', p, h,
           'FULL_ACCESS', 'LIVE', '{"plan":"gold","region":"eu-west-1"}', now()
         FROM unnest($3::text[], $4::text[]) AS t(p, h)`,
        [merchant, app, keys.map((k) => k.prefix), keys.map((k) => k.hash)],
      );
      return keys;
    };
    // A new deployment: two keys, and statistics that say so (autovacuum analyzes a table early).
    const few = await insert(2);
    await s.query('ANALYZE api_keys');
    // Enough lookups on the small table for PL/pgSQL to settle on a generic plan.
    for (let i = 0; i < 12; i++) {
      const rows = await s.query('SELECT id FROM keygate_load_key($1)', [few[i % 2]!.hash]);
      expect(rows).toHaveLength(1);
    }
    const many = await insert(3000);
    // Scans of api_keys by this session's lookups: the transaction's counters, before and after
    // (PGlite, one session in single-user mode, keeps counting across transactions).
    const scans = async () =>
      (
        await s.query(
          "SELECT seq_scan::int AS seq, idx_scan::int AS idx, idx_tup_fetch::int AS fetched FROM pg_stat_xact_user_tables WHERE relname = 'api_keys'",
        )
      )[0] as { seq: number; idx: number; fetched: number };
    await s.query('BEGIN');
    const before = await scans();
    for (const key of many.slice(0, 20)) {
      const rows = await s.query('SELECT id, prefix FROM keygate_load_key($1)', [key.hash]);
      expect(rows).toEqual([{ id: expect.any(String), prefix: key.prefix }]);
    }
    const after = await scans();
    await s.query('COMMIT');
    expect(after.seq - before.seq).toBe(0);
    expect(after.idx - before.idx).toBeGreaterThanOrEqual(20);
    // A handful of rows per lookup (the key, the end of its roll chain), never the table: a plan
    // that joined against a whole index would fetch its 3,002 entries on every lookup.
    expect(after.fetched - before.fetched).toBeLessThanOrEqual(20 * 4);
  } finally {
    await s.end();
  }
});
