// The embedded database's first start: the cluster is created off the main
// thread in a staging directory and moved in whole, so an interrupted first
// start leaves nothing that needs repair.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openDatabase } from './database.ts';

const root = mkdtempSync(join(tmpdir(), 'keygate-db-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('creates a new data directory, and opens it again with its data', async () => {
  const dataDir = join(root, 'fresh', 'pglite');
  const first = await openDatabase({ kind: 'pglite', dataDir });
  await first.migrate();
  await first.prisma.merchant.create({ data: { id: 'acme' } });
  await first.close();
  expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
  expect(readdirSync(join(root, 'fresh'))).toEqual(['pglite']);

  const again = await openDatabase({ kind: 'pglite', dataDir });
  expect(await again.prisma.merchant.findUnique({ where: { id: 'acme' } })).toMatchObject({ id: 'acme' });
  await again.close();
});

it('recovers from a first start that was killed while creating the cluster', async () => {
  const parent = join(root, 'interrupted');
  const dataDir = join(parent, 'pglite');
  // What a kill leaves: a staging directory, and part of a move without PG_VERSION.
  mkdirSync(join(parent, '.pglite.initdb-999999', 'base'), { recursive: true });
  mkdirSync(join(dataDir, 'base', '1'), { recursive: true });
  writeFileSync(join(dataDir, 'base', '1', 'junk'), 'half-written');
  writeFileSync(join(dataDir, 'postgresql.conf'), '# truncated');

  const db = await openDatabase({ kind: 'pglite', dataDir });
  await db.migrate();
  await db.prisma.merchant.create({ data: { id: 'acme' } });
  expect(await db.prisma.merchant.count()).toBe(1);
  await db.close();
  expect(readdirSync(parent)).toEqual(['pglite']);
  expect(existsSync(join(dataDir, 'base', '1', 'junk'))).toBe(false);
});

it('keeps the database owner-only, and narrows a directory an earlier version left open', async () => {
  const dataDir = join(root, 'modes', 'pglite');
  const first = await openDatabase({ kind: 'pglite', dataDir });
  await first.migrate();
  await first.prisma.merchant.create({ data: { id: 'acme' } });
  await first.close();
  const open = () => walk(dataDir).filter(([, mode]) => (mode & 0o077) !== 0);
  expect(open()).toEqual([]);
  // What an earlier version wrote: every file 0666, every folder 0755.
  for (const [path, mode] of walk(dataDir)) chmodSync(path, mode & 0o40000 ? 0o755 : 0o666);
  expect(open().length).toBeGreaterThan(10);
  const again = await openDatabase({ kind: 'pglite', dataDir });
  await again.close();
  expect(open()).toEqual([]);
});

/** Every file and folder under `path`, with its mode. */
function walk(path: string): [string, number][] {
  const stat = statSync(path);
  const here: [string, number][] = [[path, stat.mode]];
  if (!stat.isDirectory()) return here;
  return here.concat(readdirSync(path).flatMap((entry) => walk(join(path, entry))));
}
