// A throwaway PostgreSQL cluster for the tests: initdb into a temporary
// directory, started on a free loopback port, removed when stopped.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Cluster {
  /** Superuser URL of the `postgres` database. */
  url: string;
  /** The data directory (its postmaster.pid names the server's process). */
  dataDir: string;
  stop(): void;
}

function findBinDir(): string {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions[0]) return join(root, versions[0], 'bin');
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  if (which.status === 0) return join(which.stdout.trim(), '..');
  throw new Error(
    'PostgreSQL server binaries (initdb, pg_ctl) not found. Install them (Debian: apt-get install -y postgresql) or set PG_BIN_DIR.',
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on the loopback port (a started server's readiness). */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Runs a PostgreSQL program (as the postgres user when we are root: PostgreSQL refuses root). */
function runner(dir: string): (command: string, args: string[]) => void {
  const bin = findBinDir();
  const asUser = process.getuid?.() === 0 ? 'postgres' : null;
  if (asUser) {
    const uid = Number(execFileSync('id', ['-u', asUser], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', asUser], { encoding: 'utf8' }));
    chownSync(dir, uid, gid);
  }
  return (command, args) => {
    const [file, argv] = asUser
      ? ['runuser', ['-u', asUser, '--', join(bin, command), ...args]]
      : [join(bin, command), args];
    execFileSync(file, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
}

const SERVER_OPTIONS = [
  "-c listen_addresses='127.0.0.1'",
  '-c fsync=off',
  '-c synchronous_commit=off',
  '-c full_page_writes=off',
  '-c max_connections=300',
];

export async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-pg-'));
  const run = runner(dir);
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-U', 'keygate', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
  return serve(run, dir, data, await freePort());
}

/**
 * A streaming replica of a started cluster: pg_basebackup of the primary (with -R: standby.signal
 * and primary_conninfo written), started on its own port as a hot standby. Its URL reads the same
 * databases; pg_wal_replay_pause() on it holds its replay.
 */
export async function startReplica(primary: Cluster): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-pg-replica-'));
  const run = runner(dir);
  const data = join(dir, 'data');
  const source = new URL(primary.url);
  run('pg_basebackup', [
    '-h',
    source.hostname,
    '-p',
    source.port,
    '-U',
    'keygate',
    '-D',
    data,
    '-R',
    '-X',
    'stream',
    '--no-sync',
    // Without it the backup waits for the next spread checkpoint (minutes on a busy primary).
    '--checkpoint=fast',
  ]);
  return serve(run, dir, data, await freePort());
}

function serve(run: (command: string, args: string[]) => void, dir: string, data: string, port: number): Cluster {
  const options = [`-p ${port}`, `-k ${dir}`, ...SERVER_OPTIONS].join(' ');
  run('pg_ctl', ['start', '-D', data, '-w', '-l', join(dir, 'server.log'), '-o', options]);
  return {
    url: `postgres://keygate@127.0.0.1:${port}/postgres`,
    dataDir: data,
    stop() {
      try {
        run('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
