// PGlite is a single-process database: two processes writing one directory
// corrupt it. A lock file holding the owner's pid keeps a second one out.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartupError } from '../startup-error.ts';

export class DatabaseInUseError extends StartupError {
  override name = 'DatabaseInUseError';
}

export function lockDirectory(dir: string): () => void {
  const path = join(dir, 'keygate.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(path, 'utf8'));
      if (owner !== process.pid && isAlive(owner)) {
        throw new DatabaseInUseError(
          `the embedded database in ${dir} is in use by another Keygate process (pid ${owner})`,
        );
      }
      // Left behind by a process that is gone (killed, crashed): take it over.
      rmSync(path, { force: true });
    }
  }
  throw new DatabaseInUseError(`could not lock ${dir}`);
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
