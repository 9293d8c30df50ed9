// Opens Keygate's storage: embedded PGlite in a local directory by default, or
// a PostgreSQL server when DATABASE_URL is set. Same schema, same migrations.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PrismaClient } from '@keygate/services/prisma';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { lockDirectory } from './dir-lock.ts';
import { type MigrateResult, type MigrationSession, migrate } from './migrate.ts';
import { makeOwnerOnly, ownerOnlyFromNowOn } from './owner-only.ts';
import { PGliteThread } from './pglite-thread.ts';
import { waitForPostgres } from './wait-for-postgres.ts';

export type StorageOptions =
  | { kind: 'pglite' /** Directory to persist in; omitted: in memory. */; dataDir?: string }
  | {
      kind: 'postgres';
      url: string;
      /**
       * A session connection's URL for what a transaction-pooling proxy (PgBouncer) cannot
       * carry: LISTEN and the migrations' advisory lock. Default: url.
       */
      directUrl?: string;
      poolSize?: number;
      /** How long to wait for the server at start-up (default 30 s), and who hears that it is waited for. */
      connectTimeoutMs?: number;
      onWaiting?: (message: string) => void;
    };

export interface Database {
  readonly kind: StorageOptions['kind'];
  readonly prisma: PrismaClient;
  migrate(): Promise<MigrateResult>;
  /**
   * Calls back if the database stops working for good: the embedded one's
   * thread died. (A PostgreSQL pool reconnects by itself; it never calls.)
   */
  onFailure(listener: (error: Error) => void): void;
  /** PostgreSQL: the connection pool behind Prisma (the hot path's own query, /metrics). */
  readonly pool?: pg.Pool;
  close(): Promise<void>;
}

export type PrismaLogOption = ConstructorParameters<typeof PrismaClient>[0]['log'];

export async function openDatabase(options: StorageOptions, log?: PrismaLogOption): Promise<Database> {
  return options.kind === 'pglite' ? openPglite(options.dataDir, log) : openPostgres(options, log);
}

async function openPglite(dataDir: string | undefined, log: PrismaLogOption): Promise<Database> {
  if (dataDir) {
    ownerOnlyFromNowOn();
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // Only a directory that holds a database is narrowed whole (never a folder of the user's).
    if (existsSync(join(dataDir, 'PG_VERSION'))) makeOwnerOnly(dataDir);
  }
  const unlock = dataDir ? lockDirectory(dataDir) : () => {};
  let pglite: PGliteThread;
  try {
    if (dataDir && !existsSync(join(dataDir, 'PG_VERSION'))) await initialiseCluster(dataDir);
    pglite = await PGliteThread.start(dataDir);
    // PGlite gives the files it creates mode 0666 whatever the umask; its folders, made with the
    // narrowed umask, are 0700, so nobody else can reach them. Narrowed here and at close too.
    if (dataDir) makeOwnerOnly(dataDir);
  } catch (error) {
    unlock();
    throw error;
  }
  const prisma = new PrismaClient({ adapter: pglite.adapter(), log });
  const session: MigrationSession = {
    query: (sql, params) => pglite.query(sql, params),
    exec: (script) => pglite.exec(script),
  };
  return {
    kind: 'pglite',
    prisma,
    migrate: () => migrate(session),
    onFailure: (listener) => pglite.onFailure(listener),
    close: async () => {
      await prisma.$disconnect();
      await pglite.close();
      if (dataDir) makeOwnerOnly(dataDir);
      unlock();
    },
  };
}

/**
 * Creates the cluster of a new data directory: in a worker thread (see
 * pglite-initdb-worker.mjs), in a staging directory beside it, then moved in
 * with PG_VERSION last, so an interrupted first start never leaves a directory
 * that looks like a cluster but is not one. The caller holds the directory's lock.
 */
async function initialiseCluster(dataDir: string): Promise<void> {
  const parent = dirname(dataDir);
  const prefix = `.${basename(dataDir)}.initdb-`;
  // Staging directories of first starts that were killed: never in use (we hold the lock).
  for (const entry of readdirSync(parent)) {
    if (entry.startsWith(prefix)) rmSync(join(parent, entry), { recursive: true, force: true });
  }
  const staging = join(parent, `${prefix}${process.pid}`);
  try {
    await new Promise<void>((resolve, reject) => {
      const worker = new Worker(new URL('./pglite-initdb-worker.mjs', import.meta.url), {
        workerData: { dir: staging },
      });
      worker.once('error', reject);
      worker.once('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`initialising the embedded database failed (exit ${code})`)),
      );
    });
    const entries = readdirSync(staging).filter((entry) => entry !== 'PG_VERSION');
    for (const entry of [...entries, 'PG_VERSION']) {
      // Without PG_VERSION in place, a same-named entry is a leftover of an interrupted move.
      rmSync(join(dataDir, entry), { recursive: true, force: true });
      renameSync(join(staging, entry), join(dataDir, entry));
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

async function openPostgres(
  {
    url,
    directUrl = url,
    poolSize,
    connectTimeoutMs = 30_000,
    onWaiting,
  }: Extract<StorageOptions, { kind: 'postgres' }>,
  log: PrismaLogOption,
): Promise<Database> {
  await waitForPostgres(url, { timeoutMs: connectTimeoutMs, onWaiting });
  if (directUrl !== url) await waitForPostgres(directUrl, { timeoutMs: connectTimeoutMs, onWaiting });
  // Our own pool, handed to Prisma's adapter: the key lookup uses it directly, /metrics reads it.
  const pool = new pg.Pool({ connectionString: url, max: poolSize ?? 10 });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }), log });
  return {
    kind: 'postgres',
    prisma,
    pool,
    migrate: async () => {
      // Its advisory lock is held across statements: a session, never a pooled transaction.
      const client = new pg.Client({ connectionString: directUrl });
      await client.connect();
      try {
        return await migrate({
          query: async <T>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as T[],
          exec: async (script) => {
            await client.query(script);
          },
        });
      } finally {
        await client.end();
      }
    },
    onFailure: () => {},
    close: () => prisma.$disconnect(),
  };
}
