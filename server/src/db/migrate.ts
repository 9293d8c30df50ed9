// Applies prisma/migrations without Prisma's native engine, recording each in
// `_prisma_migrations` exactly as `prisma migrate deploy` does, so the plain
// Prisma CLI sees such a database as up to date.
import { randomUUID } from 'node:crypto';
import { StartupError } from '../startup-error.ts';
import { type Migration, readMigrations } from './migrations.ts';

/** One connection (never a pool): the lock and each transaction must share it. */
export interface MigrationSession {
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements (simple query protocol). */
  exec(script: string): Promise<void>;
}

export interface MigrateResult {
  applied: string[];
  /** Applied migrations whose file has changed since (Prisma warns about these too). */
  modified: string[];
}

export class MigrationError extends StartupError {
  override name = 'MigrationError';
}

// The same advisory lock key Prisma uses, so Keygate and `prisma migrate` never interleave.
const LOCK_KEY = 72707369;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

export async function migrate(
  session: MigrationSession,
  migrations: Migration[] = readMigrations(),
): Promise<MigrateResult> {
  await session.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
  try {
    await session.exec(CREATE_TABLE);
    const rows = await session.query<AppliedRow>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL',
    );
    const failed = rows.find((row) => row.finished_at === null);
    if (failed) {
      throw new MigrationError(
        `Migration ${failed.migration_name} failed earlier and was never finished; repair the database, then mark it rolled back.`,
      );
    }
    const applied = new Map(rows.map((row) => [row.migration_name, row.checksum]));
    const result: MigrateResult = { applied: [], modified: [] };
    for (const migration of migrations) {
      const checksum = applied.get(migration.name);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) result.modified.push(migration.name);
        continue;
      }
      await applyOne(session, migration);
      result.applied.push(migration.name);
    }
    return result;
  } finally {
    await session.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
  }
}

async function applyOne(session: MigrationSession, migration: Migration): Promise<void> {
  const id = randomUUID();
  await session.exec('BEGIN');
  try {
    await session.exec(migration.sql);
    await session.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), clock_timestamp(), 1)`,
      [id, migration.checksum, migration.name],
    );
    await session.exec('COMMIT');
  } catch (error) {
    await session.exec('ROLLBACK');
    throw new MigrationError(`Migration ${migration.name} failed and was rolled back: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
