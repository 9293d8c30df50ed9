// The embedded database's files are the merchants' data, webhook signing secrets (whsec_)
// included, in its tables and its write-ahead log: they are the server's alone. The process's
// umask is narrowed, so every folder it makes is 0700 and nothing inside is reachable by anyone
// else; PGlite sets its files' mode to 0666 regardless, so the database's directory is narrowed
// whole when it opens and closes (also fixing a directory an earlier version left open).
import { chmodSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

/** New files of this process: owner-only (the umask is the process's; worker threads cannot set it). */
export function ownerOnlyFromNowOn(): void {
  if (isMainThread) process.umask(process.umask() | 0o077);
}

/** A directory and everything in it, owner-only: 0700 for directories, 0600 for files. */
export function makeOwnerOnly(path: string): void {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return;
  if (stat.isDirectory()) {
    if ((stat.mode & 0o077) !== 0) chmodSync(path, stat.mode & 0o700);
    for (const entry of readdirSync(path)) makeOwnerOnly(join(path, entry));
  } else if (stat.isFile() && (stat.mode & 0o077) !== 0) {
    chmodSync(path, stat.mode & 0o600);
  }
}
