// A fresh, migrated database for one test file: in-memory PGlite, or a new
// database in the run's throwaway PostgreSQL cluster (KEYGATE_TEST_DB=postgres).
import { randomBytes } from 'node:crypto';
import { type Database, openDatabase, type StorageOptions } from '@keygate/server';
import pg from 'pg';
import { inject } from 'vitest';

export type TestDbKind = 'pglite' | 'postgres';
export const testDbKind: TestDbKind = process.env.KEYGATE_TEST_DB === 'postgres' ? 'postgres' : 'pglite';

export interface TestDatabase extends Database {
  storage: StorageOptions;
  /** Statements sent to the database while `fn` runs, less the webhook worker's timed polls. */
  countStatements<T>(fn: () => Promise<T>): Promise<{ result: T; statements: string[] }>;
  /** Every row of every table, as text: for proving what is (not) stored. */
  dumpAllTables(): Promise<string>;
  /** Empties the tables of applications and keys. */
  truncate(): Promise<void>;
}

/** A new empty PostgreSQL database in the test cluster. */
export async function createPostgresDatabase(): Promise<string> {
  const admin = new pg.Client({ connectionString: inject('postgresUrl') });
  await admin.connect();
  const name = `keygate_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return inject('postgresUrl').replace(/\/postgres$/, `/${name}`);
}

export async function openTestDatabase(kind: TestDbKind = testDbKind): Promise<TestDatabase> {
  const storage: StorageOptions =
    kind === 'postgres' ? { kind, url: await createPostgresDatabase(), poolSize: 30 } : { kind };
  const database = await openDatabase(storage, [{ emit: 'event', level: 'query' }]);
  await database.migrate();
  let recording: string[] | null = null;
  // The webhook worker polls for due deliveries on its own timer; a poll landing inside a counted
  // window is not the counted code's doing (it made analytics.test.ts flaky once).
  const record = (sql: string) => {
    if (!/FOR UPDATE SKIP LOCKED[\s\S]*UPDATE webhook_deliveries/i.test(sql)) recording?.push(sql);
  };
  // The client's type does not know it was built with query events; they are there.
  const events = database.prisma as unknown as { $on(event: 'query', listener: (e: { query: string }) => void): void };
  events.$on('query', (event) => record(event.query));
  // On PostgreSQL the key lookup queries the pool directly (its SQL as a string), past Prisma's
  // events; Prisma's adapter sends its own through the same pool as query configs, seen above.
  const pool = database.pool;
  if (pool) {
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      if (typeof args[0] === 'string') record(args[0]);
      return query(...args);
    };
  }
  // Merchants stay: the server remembers which merchants it has created.
  const tables = ['audit_events', 'ip_rules', 'api_keys', 'applications'];
  return Object.assign(database, {
    storage,
    async countStatements<T>(fn: () => Promise<T>) {
      const statements: string[] = [];
      recording = statements;
      try {
        return { result: await fn(), statements };
      } finally {
        recording = null;
      }
    },
    async dumpAllTables() {
      const names = await database.prisma.$queryRawUnsafe<{ tablename: string }[]>(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
      );
      const dumps = await Promise.all(
        names.map(({ tablename }) => database.prisma.$queryRawUnsafe(`SELECT * FROM "${tablename}"`)),
      );
      return JSON.stringify(dumps);
    },
    async truncate() {
      await database.prisma.$executeRawUnsafe(`TRUNCATE ${tables.join(', ')} CASCADE`);
    },
  });
}
