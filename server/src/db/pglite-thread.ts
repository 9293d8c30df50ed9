// The server's side of the embedded database: a Prisma driver adapter whose
// queries run on PGlite in a worker thread (pglite-worker.mjs), so the event
// loop keeps answering verifications while Postgres works. Transactions keep
// PGlite's semantics: one at a time, everything else waits.
import { Worker } from 'node:worker_threads';
import {
  DriverAdapterError,
  type IsolationLevel,
  type SqlDriverAdapter,
  type SqlDriverAdapterFactory,
  type SqlQuery,
  type SqlResultSet,
  type Transaction,
  type TransactionOptions,
} from '@prisma/driver-adapter-utils';

interface Reply {
  id?: number;
  ready?: true;
  value?: unknown;
  error?: { name: string; message: string; cause?: unknown };
}

export class PGliteThread {
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private lastId = 0;
  private failure: Error | null = null;
  private closing = false;
  private readonly failureListeners: ((error: Error) => void)[] = [];

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: Reply) => {
      if (reply.id === undefined) return;
      const call = this.pending.get(reply.id);
      if (!call) return;
      this.pending.delete(reply.id);
      if (reply.error) call.reject(toError(reply.error));
      else call.resolve(reply.value);
    });
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`the embedded database's thread exited (code ${code})`));
    });
  }

  /** Starts the thread and opens the database in dataDir (in memory when omitted). */
  static async start(dataDir: string | undefined): Promise<PGliteThread> {
    const worker = new Worker(new URL('./pglite-worker.mjs', import.meta.url), { workerData: { dataDir } });
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the embedded database did not open (exit ${code})`));
      const onMessage = (reply: Reply) => {
        if (!reply.ready) return;
        worker.off('message', onMessage).off('error', reject).off('exit', onExit);
        resolve();
      };
      worker.on('message', onMessage).once('error', reject).once('exit', onExit);
    });
    return new PGliteThread(worker);
  }

  call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = ++this.lastId;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ id, op, ...args });
    });
  }

  /** Rows of one statement, for the migrator. */
  query<T>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.call<T[]>('query', { sql, params });
  }

  exec(script: string): Promise<void> {
    return this.call('executeScript', { script });
  }

  adapter(): SqlDriverAdapterFactory {
    return new ThreadAdapterFactory(this);
  }

  async close(): Promise<void> {
    if (this.failure) return;
    await this.call('close');
    this.closing = true;
    await this.worker.terminate();
  }

  /** Called once if the thread dies: every call from then on fails with this error. */
  onFailure(listener: (error: Error) => void): void {
    this.failureListeners.push(listener);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
    for (const listener of this.failureListeners) listener(error);
  }
}

function toError({ name, message, cause }: NonNullable<Reply['error']>): Error {
  if (name === 'DriverAdapterError' && typeof cause === 'object' && cause !== null) {
    return new DriverAdapterError(cause as ConstructorParameters<typeof DriverAdapterError>[0]);
  }
  const error = new Error(message, { cause });
  error.name = name;
  return error;
}

const INFO = { provider: 'postgres', adapterName: 'pglite-prisma-adapter' } as const;

class ThreadQueryable {
  readonly provider = INFO.provider;
  readonly adapterName = INFO.adapterName;
  constructor(
    protected readonly thread: PGliteThread,
    protected readonly tx?: number,
  ) {}

  queryRaw(query: SqlQuery): Promise<SqlResultSet> {
    return this.thread.call('queryRaw', { tx: this.tx, query });
  }

  executeRaw(query: SqlQuery): Promise<number> {
    return this.thread.call('executeRaw', { tx: this.tx, query });
  }
}

class ThreadTransaction extends ThreadQueryable implements Transaction {
  constructor(
    thread: PGliteThread,
    tx: number,
    readonly options: TransactionOptions,
  ) {
    super(thread, tx);
  }

  commit(): Promise<void> {
    return this.thread.call('commit', { tx: this.tx });
  }

  rollback(): Promise<void> {
    return this.thread.call('rollback', { tx: this.tx });
  }
}

class ThreadAdapter extends ThreadQueryable implements SqlDriverAdapter {
  executeScript(script: string): Promise<void> {
    return this.thread.exec(script);
  }

  async startTransaction(isolationLevel?: IsolationLevel): Promise<Transaction> {
    const { id, options } = await this.thread.call<{ id: number; options: TransactionOptions }>('startTransaction', {
      isolationLevel,
    });
    return new ThreadTransaction(this.thread, id, options);
  }

  getConnectionInfo() {
    return { supportsRelationJoins: true };
  }

  async dispose(): Promise<void> {}
}

class ThreadAdapterFactory implements SqlDriverAdapterFactory {
  readonly provider = INFO.provider;
  readonly adapterName = INFO.adapterName;
  constructor(private readonly thread: PGliteThread) {}

  async connect(): Promise<SqlDriverAdapter> {
    return new ThreadAdapter(this.thread);
  }
}
