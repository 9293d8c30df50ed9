// `pnpm db:diff <name>`: writes prisma/migrations/<timestamp>_<name>/migration.sql
// with the SQL that the migrations folder lacks to match prisma/schema.prisma.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrationsDir } from '../db/migrations.ts';
import { diffMigrationsToSchema } from '../db/schema-engine.ts';

const name = process.argv[2];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error('usage: pnpm db:diff <name>   (lower-case letters, digits and underscores, e.g. add_audit_log)');
  process.exit(2);
}

const sql = await diffMigrationsToSchema();
if (sql.trim() === '') {
  console.log('schema.prisma matches the migrations; nothing to write.');
  process.exit(0);
}
const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
const dir = join(migrationsDir, `${stamp}_${name}`);
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'migration.sql'), sql);
console.log(`wrote ${join(dir, 'migration.sql')}`);
