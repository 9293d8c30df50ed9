// Opens Keygate's storage: embedded PGlite in a local directory by default, or
// a PostgreSQL server when DATABASE_URL is set. Same schema, same migrations.
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PrismaClient } from '@keygate/schema/prisma';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { lockDirectory } from './dir-lock.ts';
import { type MigrateResult, type MigrationSession, migrate } from './migrate.ts';

export type StorageOptions =
  | { kind: 'pglite' /** Directory to persist in; omitted: in memory. */; dataDir?: string }
  | { kind: 'postgres'; url: string; poolSize?: number };

export interface Database {
  readonly kind: StorageOptions['kind'];
  readonly prisma: PrismaClient;
  migrate(): Promise<MigrateResult>;
  close(): Promise<void>;
}

export type PrismaLogOption = ConstructorParameters<typeof PrismaClient>[0]['log'];

export async function openDatabase(options: StorageOptions, log?: PrismaLogOption): Promise<Database> {
  return options.kind === 'pglite'
    ? openPglite(options.dataDir, log)
    : openPostgres(options.url, options.poolSize, log);
}

async function openPglite(dataDir: string | undefined, log: PrismaLogOption): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const unlock = dataDir ? lockDirectory(dataDir) : () => {};
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(dataDir);
  } catch (error) {
    unlock();
    throw error;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite), log });
  const session: MigrationSession = {
    query: async <T>(sql: string, params?: unknown[]) => (await pglite.query<T>(sql, params)).rows,
    exec: async (script) => {
      await pglite.exec(script);
    },
  };
  return {
    kind: 'pglite',
    prisma,
    migrate: () => migrate(session),
    close: async () => {
      await prisma.$disconnect();
      await pglite.close();
      unlock();
    },
  };
}

async function openPostgres(url: string, poolSize: number | undefined, log: PrismaLogOption): Promise<Database> {
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: poolSize }), log });
  return {
    kind: 'postgres',
    prisma,
    migrate: async () => {
      const client = new pg.Client({ connectionString: url });
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
    close: () => prisma.$disconnect(),
  };
}
