// Drift checks: committed artefacts must match what they are generated from.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { configurationReference } from '@keygate/server';
import { diffMigrationsToSchema, schemaPath } from '@keygate/server/db';
import { printKeygateSchema } from '@keygate/server/graphql';
import { describe, expect, it } from 'vitest';
import codegenConfig from '../../sdk/codegen.ts';
import { repoRoot, tempDirs, tsxNode } from '../support/process.ts';

describe('prisma/migrations', () => {
  it('covers every change in schema.prisma (run `pnpm db:diff <name>` when this fails)', async () => {
    expect(await diffMigrationsToSchema()).toBe('');
  });

  it('would notice a schema change that no migration covers', async () => {
    const changed = readFileSync(schemaPath, 'utf8').replace(
      '  enabled        Boolean  @default(true)',
      '  enabled        Boolean  @default(true)\n  color          String?',
    );
    expect(await diffMigrationsToSchema(changed)).toContain('ALTER TABLE "applications" ADD COLUMN     "color" TEXT');
  });
});

describe('schema/schema.graphql', () => {
  const committedPath = join(repoRoot, 'schema', 'schema.graphql');

  it('is the printed Pothos schema (run `pnpm generate` when this fails)', () => {
    expect(printKeygateSchema()).toBe(readFileSync(committedPath, 'utf8'));
  });

  it('has a check script that fails on a stale copy', () => {
    const dirs = tempDirs('keygate-drift-');
    try {
      const stale = join(dirs.make(), 'schema.graphql');
      const check = () =>
        spawnSync(tsxNode[0], [...tsxNode.slice(1), 'scripts/print-schema.ts', '--check', '--file', stale], {
          cwd: join(repoRoot, 'schema'),
          encoding: 'utf8',
        });
      writeFileSync(stale, readFileSync(committedPath, 'utf8'));
      expect(check().status).toBe(0);
      writeFileSync(stale, readFileSync(committedPath, 'utf8').replace('  lastUsedIp: String\n', ''));
      const failed = check();
      expect(failed.status).toBe(1);
      expect(failed.stderr).toContain('is stale: run `pnpm generate`');
    } finally {
      dirs.removeAll();
    }
  });
});

describe('docs/configuration.md', () => {
  const committedPath = join(repoRoot, 'docs', 'configuration.md');

  it('is printed from the variables in server/src/config.ts (run `pnpm generate` when this fails)', () => {
    expect(configurationReference()).toBe(readFileSync(committedPath, 'utf8'));
  });

  it('has a check script that fails on a stale copy', () => {
    const dirs = tempDirs('keygate-drift-');
    try {
      const stale = join(dirs.make(), 'configuration.md');
      const check = () =>
        spawnSync(tsxNode[0], [...tsxNode.slice(1), 'scripts/print-configuration.ts', '--check', '--file', stale], {
          cwd: join(repoRoot, 'server'),
          encoding: 'utf8',
        });
      writeFileSync(stale, readFileSync(committedPath, 'utf8'));
      expect(check().status).toBe(0);
      writeFileSync(stale, readFileSync(committedPath, 'utf8').replace(/^\| `KEYGATE_MAX_PAGE_SIZE` .*\n/m, ''));
      const failed = check();
      expect(failed.status).toBe(1);
      expect(failed.stderr).toContain('docs/configuration.md is stale: run `pnpm generate`');
    } finally {
      dirs.removeAll();
    }
  });
});

describe('sdk/src/generated (graphql-codegen)', () => {
  const sdkDir = join(repoRoot, 'sdk');
  const committed = readFileSync(join(sdkDir, 'src', 'generated', 'graphql.ts'), 'utf8');

  /** What codegen would write with the project's own config, from the given schema and operations. */
  async function generated(schema: string, operations: Record<string, string>): Promise<string> {
    const dirs = tempDirs('keygate-codegen-');
    try {
      const dir = dirs.make();
      writeFileSync(join(dir, 'schema.graphql'), schema);
      for (const [name, text] of Object.entries(operations)) writeFileSync(join(dir, name), text);
      const output = 'src/generated/graphql.ts';
      const files = await generate(
        {
          ...codegenConfig,
          cwd: sdkDir,
          schema: join(dir, 'schema.graphql'),
          documents: join(dir, '*.graphql'),
          silent: true,
        },
        false,
      );
      return files.find((file: { filename: string }) => file.filename.endsWith(output)).content;
    } finally {
      dirs.removeAll();
    }
  }
  const schema = () => readFileSync(join(repoRoot, 'schema', 'schema.graphql'), 'utf8');
  const operations = () =>
    Object.fromEntries(
      readdirSync(join(sdkDir, 'src', 'operations')).map((f) => [
        f,
        readFileSync(join(sdkDir, 'src', 'operations', f), 'utf8'),
      ]),
    );

  it('is what codegen makes of the committed schema and operations (run `pnpm generate` when this fails)', async () => {
    expect(await generated(schema(), operations())).toBe(committed);
  });

  it('goes stale when an operation changes', async () => {
    const changed = { ...operations(), 'Viewer.graphql': 'query Viewer { viewer { id merchantId } }\n' };
    expect(await generated(schema(), changed)).not.toBe(committed);
  });

  it('goes stale when the schema changes', async () => {
    const changed = schema().replace('  lastUsedIp: String\n', '  lastUsedIp: String!\n');
    expect(changed).not.toBe(schema());
    expect(await generated(changed, operations())).not.toBe(committed);
  });
});
