// A real PgBouncer (Debian's package) in transaction pooling mode in front of the
// test cluster, as large deployments run PostgreSQL: each transaction gets whichever
// server connection is free, so session state (LISTEN, session advisory locks,
// named prepared statements) does not survive between transactions.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, listening } from './postgres-cluster.ts';

export interface PgBouncer {
  /** The database URL through the pooler. */
  url: string;
  /** Server connections PgBouncer holds open to PostgreSQL at most (per database and user). */
  poolSize: number;
  /** SHOW STATS of the admin console: transactions and queries PgBouncer carried for a database. */
  stats(database: string): Promise<{ transactions: number; queries: number }>;
  stop(): Promise<void>;
}

const BINARY = '/usr/sbin/pgbouncer';

export async function startPgBouncer(upstream: string, poolSize = 4): Promise<PgBouncer> {
  if (!existsSync(BINARY)) {
    throw new Error('pgbouncer not found: install it (Debian: apt-get install -y pgbouncer); .ci/run does');
  }
  const target = new URL(upstream);
  const dir = mkdtempSync(join(tmpdir(), 'keygate-pgbouncer-'));
  const port = await freePort();
  writeFileSync(join(dir, 'users.txt'), `"${decodeURIComponent(target.username)}" ""\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${target.hostname} port=${target.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `admin_users = ${decodeURIComponent(target.username)}`,
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 500',
      'ignore_startup_parameters = extra_float_digits,options',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  // PgBouncer refuses to run as root; as the postgres user then (as the cluster does).
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    chownSync(dir, uid, gid);
  }
  const child = asRoot
    ? spawn('runuser', ['-u', 'postgres', '--', BINARY, join(dir, 'pgbouncer.ini')], { stdio: 'ignore' })
    : spawn(BINARY, [join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer did not start (exit ${child.exitCode})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const url = new URL(upstream);
  url.port = String(port);
  return {
    url: url.href,
    poolSize,
    async stats(database) {
      const admin = new URL(url.href);
      admin.pathname = '/pgbouncer';
      const client = new pg.Client({ connectionString: admin.href });
      await client.connect();
      try {
        const { rows } = await client.query('SHOW STATS');
        const row = rows.find((r) => r.database === database);
        return { transactions: Number(row?.total_xact_count ?? 0), queries: Number(row?.total_query_count ?? 0) };
      } finally {
        await client.end();
      }
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
