// Drift checks: committed artefacts must match what they are generated from.
import { readFileSync } from 'node:fs';
import { printKeygateSchema } from '@keygate/schema';
import { describe, expect, it } from 'vitest';
import { schemaPath } from '../../server/src/db/migrations.ts';
import { diffMigrationsToSchema } from '../../server/src/db/schema-engine.ts';

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
  it('is the printed Pothos schema (run `pnpm generate` when this fails)', () => {
    const committed = readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8');
    expect(printKeygateSchema()).toBe(committed);
  });
});
