// Creates a PGlite cluster in workerData.dir, then exits. Run in a worker
// thread: initdb's WebAssembly instance (some 400 MiB) dies with the thread
// instead of waiting in the server's heap for a garbage collection that an
// idle server may never run. Plain JavaScript, so it loads under any runner.
import { workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

const db = await PGlite.create(workerData.dir);
await db.close();
