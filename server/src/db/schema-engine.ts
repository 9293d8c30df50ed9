// Prisma's schema engine compiled to WebAssembly, on in-memory PGlite databases:
// computes the SQL that takes the migrations folder to schema.prisma without a
// native engine or a network connection. Used by `pnpm db:diff` and the drift test.
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import type { DiffParams, SchemaEngine } from '@prisma/schema-engine-wasm';
import * as engineModule from '@prisma/schema-engine-wasm/schema_engine_bg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { migrationsDir, readMigrations, schemaPath } from './migrations.ts';

type EngineModule = typeof engineModule & {
  __wbg_set_wasm(exports: WebAssembly.Exports): void;
  SchemaEngine: typeof SchemaEngine;
};

let loaded: Promise<EngineModule> | undefined;

/** The package imports its .wasm as an ES module, which Node 20 cannot; instantiate it by hand. */
function loadEngine(): Promise<EngineModule> {
  loaded ??= (async () => {
    const mod = engineModule as EngineModule;
    const entry = fileURLToPath(import.meta.resolve('@prisma/schema-engine-wasm'));
    const bytes = readFileSync(join(dirname(entry), 'schema_engine_bg.wasm'));
    const { instance } = await WebAssembly.instantiate(bytes, { './schema_engine_bg.js': mod });
    mod.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return mod;
  })();
  return loaded;
}

/**
 * SQL that brings a database migrated with every file in prisma/migrations
 * up to date with prisma/schema.prisma; empty when nothing is missing.
 */
export async function diffMigrationsToSchema(schema = readFileSync(schemaPath, 'utf8')): Promise<string> {
  const { SchemaEngine } = await loadEngine();
  const target = new PGlite();
  const adapter = bindMigrationAwareSqlAdapterFactory(new PrismaPGlite(target));
  const engine = await SchemaEngine.new({ datamodels: [[schemaPath, schema]] }, () => {}, adapter);
  try {
    const params: DiffParams = {
      from: {
        tag: 'migrations',
        baseDir: migrationsDir,
        lockfile: {
          path: 'migration_lock.toml',
          content: readFileSync(join(migrationsDir, 'migration_lock.toml'), 'utf8'),
        },
        shadowDbInitScript: '',
        migrationDirectories: readMigrations().map((m) => ({
          path: m.name,
          migrationFile: {
            path: relative(migrationsDir, join(migrationsDir, m.name, 'migration.sql')),
            content: { tag: 'ok', value: m.sql },
          },
        })),
      },
      to: { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: schema }] },
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    };
    const result = await engine.diff(params);
    const sql = result.stdout ?? '';
    return sql.trim() === '-- This is an empty migration.' ? '' : sql;
  } finally {
    engine.free();
    await target.close();
  }
}
