// The embedded database's own thread. PGlite is Postgres compiled to
// WebAssembly and runs synchronously on the thread that calls it: on the
// server's thread, every management query would stall every verification for
// its duration. Here it runs beside it, behind pglite-prisma-adapter, and
// answers the messages of pglite-thread.ts. Plain JavaScript, so it loads
// under any runner (tsx, vitest, node).
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';

// Postgres' default shared_buffers (128 MB) is memory Postgres touches as it starts: in
// PGlite, resident in this process. 16 MB measured 160 MB resident for PGlite alone against
// 312 MB (32 MB: 192 MB); the files' pages stay in the operating system's cache either way.
const pglite = await PGlite.create(workerData.dataDir, {
  startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'],
});
const adapter = await new PrismaPGlite(pglite).connect();
/** Open transactions by id; each holds PGlite's lock until it commits or rolls back. */
const transactions = new Map();
let lastTransaction = 0;

const queryable = (tx) => {
  if (tx === undefined) return adapter;
  const transaction = transactions.get(tx);
  if (!transaction) throw new Error(`transaction ${tx} is not open`);
  return transaction;
};

const operations = {
  queryRaw: ({ tx, query }) => queryable(tx).queryRaw(query),
  executeRaw: ({ tx, query }) => queryable(tx).executeRaw(query),
  executeScript: async ({ script }) => {
    await pglite.exec(script);
  },
  startTransaction: async ({ isolationLevel }) => {
    const transaction = await adapter.startTransaction(isolationLevel);
    const id = ++lastTransaction;
    transactions.set(id, transaction);
    return { id, options: transaction.options };
  },
  commit: async ({ tx }) => {
    const transaction = queryable(tx);
    transactions.delete(tx);
    await transaction.commit();
  },
  rollback: async ({ tx }) => {
    const transaction = queryable(tx);
    transactions.delete(tx);
    await transaction.rollback();
  },
  // Keygate's migrator speaks to PGlite directly.
  query: async ({ sql, params }) => (await pglite.query(sql, params)).rows,
  close: async () => {
    await pglite.close();
  },
};

parentPort.on('message', async ({ id, op, ...args }) => {
  try {
    parentPort.postMessage({ id, value: await operations[op](args) });
  } catch (error) {
    // A DriverAdapterError's cause is a plain object (its kind and codes): Prisma maps it to P2002 & co.
    const sent = { name: error?.name ?? 'Error', message: String(error?.message ?? error) };
    try {
      parentPort.postMessage({ id, error: { ...sent, cause: error?.cause } });
    } catch {
      parentPort.postMessage({ id, error: sent });
    }
  }
});
parentPort.postMessage({ ready: true });
