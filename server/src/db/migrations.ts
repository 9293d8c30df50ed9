// Reads Prisma's standard migrations layout: prisma/migrations/<name>/migration.sql
// plus migration_lock.toml. Both the migrator and the schema-diff tooling use it.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's prisma/ folder: found upwards from this module, from its source or from the build. */
function findPrismaDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'prisma', 'schema.prisma'))) return join(dir, 'prisma');
    const parent = dirname(dir);
    if (parent === dir) throw new Error('prisma/schema.prisma was not found above the server');
    dir = parent;
  }
}

export const prismaDir = findPrismaDir();
export const migrationsDir = join(prismaDir, 'migrations');
export const schemaPath = join(prismaDir, 'schema.prisma');

export interface Migration {
  /** Directory name, e.g. `20261122000000_init`; Prisma's `migration_name`. */
  name: string;
  sql: string;
  /** sha256 of the file, hex: Prisma's `checksum` column. */
  checksum: string;
}

export function readMigrations(dir = migrationsDir): Migration[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, 'migration.sql')))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/** The migrations before the one named `<timestamp>_<name>`: a database as it was just before it. */
export function migrationsBefore(name: string, all = readMigrations()): Migration[] {
  const at = all.findIndex((m) => m.name.endsWith(`_${name}`));
  if (at < 0) throw new Error(`no migration named ${name}`);
  return all.slice(0, at);
}
