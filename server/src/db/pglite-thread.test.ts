// The embedded database's thread: Prisma works through it as through PGlite
// itself (typed errors, transactions that commit or roll back whole), the
// server's thread stays free while a query runs, and a dead thread fails
// every call at once instead of leaving it hanging.

import { PrismaClient } from '@keygate/services/prisma';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Database, openDatabase } from './database.ts';
import { PGliteThread } from './pglite-thread.ts';

let db: Database;
beforeAll(async () => {
  db = await openDatabase({ kind: 'pglite' });
  await db.migrate();
});
afterAll(() => db.close());

it('maps unique violations to Prisma errors, and rolls failed transactions back whole', async () => {
  await db.prisma.merchant.create({ data: { id: 'acme' } });
  await expect(db.prisma.merchant.create({ data: { id: 'acme' } })).rejects.toMatchObject({ code: 'P2002' });
  await expect(
    db.prisma.$transaction(async (tx) => {
      await tx.merchant.create({ data: { id: 'globex' } });
      await tx.merchant.create({ data: { id: 'acme' } });
    }),
  ).rejects.toMatchObject({ code: 'P2002' });
  expect((await db.prisma.merchant.findMany()).map((m) => m.id)).toEqual(['acme']);
  await db.prisma.$transaction([
    db.prisma.merchant.create({ data: { id: 'initech' } }),
    db.prisma.merchant.create({ data: { id: 'umbrella' } }),
  ]);
  expect(await db.prisma.merchant.count()).toBe(3);
});

it('keeps the event loop free while Postgres works', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  // About half a second of work inside Postgres.
  await db.prisma.$queryRaw`SELECT count(*) FROM generate_series(1, 3000000)`;
  clearInterval(timer);
  expect(ticks).toBeGreaterThan(20);
});

it('fails pending and later calls at once when the thread dies, and says so', async () => {
  const thread = await PGliteThread.start(undefined);
  const prisma = new PrismaClient({ adapter: thread.adapter() });
  const failures: Error[] = [];
  thread.onFailure((error) => failures.push(error));
  expect(await thread.query<{ one: number }>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  const pending = thread.query('SELECT pg_sleep(2)');
  // A crash from outside: the thread is gone without closing.
  await (thread as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  await expect(pending).rejects.toThrow(/exited/);
  await expect(prisma.$queryRaw`SELECT 1`).rejects.toThrow(/exited/);
  expect(failures).toHaveLength(1);
});
