// The server as users run it: real processes, the embedded database on disk,
// the token command, restarts, and PostgreSQL mode.
import { readFileSync, statSync } from 'node:fs';
import { type AddressInfo, connect, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import {
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  VerifyKeyDocument as VERIFY,
} from '@keygate/sdk/documents';
import { readMigrations } from '@keygate/server';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { DashboardDocument } from '../generated/graphql.ts';
import { createPostgresDatabase } from '../support/database.ts';
import { freePort } from '../support/postgres-cluster.ts';
import { graphql, repoRoot, runCli, runShell, startKeygate, tempDirs } from '../support/process.ts';
import { ok } from '../support/results.ts';
import { waitFor } from '../support/wait.ts';

const dirs = tempDirs();
const dataDir = dirs.make;
afterAll(dirs.removeAll);

const LIST = DashboardDocument;
const FIRST_PAGE = { first: 10 };

describe('embedded database (no DATABASE_URL)', () => {
  it('pnpm start serves GraphiQL and the API; data and the dev secret survive a restart', async () => {
    const dir = dataDir();
    const env = { KEYGATE_DATA_DIR: dir };
    const first = await startKeygate(env, ['pnpm', 'start'], repoRoot);
    try {
      const page = await fetch(`${first.url}/graphql`, { headers: { accept: 'text/html' } });
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('<title>Keygate</title>');
      expect(html).toContain('pnpm run token');
      expect(html).not.toMatch(/<script[^>]+src="?https?:|<link[^>]+href="?https?:/);

      // Exactly as the README says, captured by the shell: the token and nothing else.
      const captured = runShell('KEYGATE_TOKEN=$(pnpm run token acme) && printf "%s" "$KEYGATE_TOKEN"', env);
      expect(captured.status).toBe(0);
      expect(captured.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const token = { stdout: captured.stdout };
      const created = await graphql(first.url, token.stdout, CREATE_APP, { input: { name: 'Web store' } });
      const appId = ok(created.body.data.createApplication).application.id;
      const key = await graphql(first.url, token.stdout, CREATE_KEY, { input: { applicationId: appId, name: 'k' } });
      expect(ok(key.body.data.createKey).secret).toMatch(/^kg_live_/);
      const service = runCli('src/cli/token.ts', ['--verifier'], env);
      const verified = await graphql(first.url, service.stdout, VERIFY, {
        input: { key: ok(key.body.data.createKey).secret },
      });
      expect(verified.body.data.verifyKey).toMatchObject({ valid: true, merchantId: 'acme' });
      expect((await graphql(first.url, service.stdout, LIST, FIRST_PAGE)).status).toBe(403);
      expect(first.output()).toContain('development mode');
      expect(first.output()).not.toContain(ok(key.body.data.createKey).secret);
    } finally {
      await first.stop();
    }

    const secretFile = join(dir, 'dev-jwt-secret');
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(secretFile, 'utf8').trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const second = await startKeygate(env);
    try {
      const token = runCli('src/cli/token.ts', ['acme', '--expires-in', '5m'], env).stdout;
      const listed = await graphql(second.url, token, LIST, FIRST_PAGE);
      expect(listed.body.data.applications).toMatchObject({
        totalCount: 1,
        edges: [{ node: { name: 'Web store', keys: { totalCount: 1 } } }],
      });
      expect(listed.body.data.applications.edges).toHaveLength(1);
      expect(second.output()).not.toContain('applied migrations');
    } finally {
      expect(await second.stop('SIGINT')).toBe(0);
    }
    // Two starts of `pnpm start` and four CLI processes: 28 s alone on this 2-core machine.
  }, 90_000);

  it('keeps a second process off a data directory in use', async () => {
    const env = { KEYGATE_DATA_DIR: dataDir() };
    const running = await startKeygate(env);
    try {
      await expect(startKeygate(env)).rejects.toThrow(/in use by another Keygate process/);
    } finally {
      await running.stop();
    }
  });

  it('uses a different random secret per data directory, so tokens do not carry over', async () => {
    const a = { KEYGATE_DATA_DIR: dataDir() };
    const b = { KEYGATE_DATA_DIR: dataDir() };
    const server = await startKeygate(b);
    try {
      // Run without the server's data directory: a new secret is made, and the command says so.
      const foreign = runCli('src/cli/token.ts', ['acme'], a);
      expect(foreign.stderr).toContain(`created a new development secret in ${a.KEYGATE_DATA_DIR}/dev-jwt-secret`);
      expect(foreign.stderr).toContain('KEYGATE_DATA_DIR');
      expect(foreign.stdout.split('.')).toHaveLength(3); // stdout: the token alone
      expect((await graphql(server.url, foreign.stdout, LIST, FIRST_PAGE)).status).toBe(401);
      // The server's log says which secret it signs with, under the refusal.
      await waitFor(() => server.output().includes('credentials refused'));
      expect(server.output()).toContain(`KEYGATE_DATA_DIR=${b.KEYGATE_DATA_DIR} pnpm run token`);
      // With the server's data directory (its secret exists): no message, an accepted token.
      const own = runCli('src/cli/token.ts', ['acme'], b);
      expect(own.stderr).toBe('');
      expect((await graphql(server.url, own.stdout, LIST, FIRST_PAGE)).status).toBe(200);
      expect(runCli('src/cli/token.ts', ['acme'], a).stderr).toBe('');
    } finally {
      await server.stop();
    }
  });

  // Eleven processes started one after another: a loaded machine takes more than the default 30 s.
  it('explains bad configuration instead of crashing', { timeout: 120_000 }, async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: 'eighty' }, /PORT must be a whole number/],
      [{ DATABASE_URL: 'mysql://localhost/x' }, /DATABASE_URL must be a postgres/],
      [{ NODE_ENV: 'production' }, /needs KEYGATE_JWT_SECRET or KEYGATE_JWKS_URL/],
      [{ KEYGATE_JWT_SECRET: 'short' }, /at least 32 bytes/],
      [
        { DATABASE_URL: 'postgres://127.0.0.1:1/x', KEYGATE_LISTEN_DATABASE_URL: 'pgbouncer:6432' },
        /KEYGATE_LISTEN_DATABASE_URL must be a postgres/,
      ],
      [{ KEYGATE_LISTEN_DATABASE_URL: 'postgres://127.0.0.1:1/x' }, /set but DATABASE_URL is not/],
      [{ OTEL_TRACES_EXPORTER: 'zipkin' }, /OTEL_TRACES_EXPORTER: "zipkin" is not an exporter/],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, /sends http\/json/],
    ];
    for (const [env, message] of cases) {
      const error = await startKeygate({ KEYGATE_DATA_DIR: dataDir(), ...env }).catch((e: Error) => e);
      expect(String(error)).toMatch(message);
      expect(String(error)).toContain('exited with 1');
    }
    // A taken port is said before the database is created and migrated, not after.
    const taken = createNetServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = String((taken.address() as AddressInfo).port);
      const error = await startKeygate({ KEYGATE_DATA_DIR: dataDir(), PORT: port }).catch((e: Error) => String(e));
      expect(error).toContain(`port ${port} on 127.0.0.1 is already in use; set PORT to another one`);
      expect(error).not.toContain('applied migrations');
    } finally {
      taken.close();
    }
    const usage = runCli('src/cli/token.ts', [], { KEYGATE_DATA_DIR: dataDir() });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('usage: pnpm run token <merchant-id>');
    const help = runShell('pnpm run token --help', { KEYGATE_DATA_DIR: dataDir() });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: pnpm run token <merchant-id>/);
  });
});

describe('PostgreSQL (DATABASE_URL)', () => {
  it('pnpm db:migrate migrates, then servers share the database', async () => {
    const url = await createPostgresDatabase();
    const env = {
      DATABASE_URL: url,
      KEYGATE_JWT_SECRET: 'a-shared-secret-that-is-long-enough-123',
      KEYGATE_DATA_DIR: dataDir(),
    };
    const migrated = runCli('src/cli/migrate.ts', [], env);
    expect(migrated.stdout).toMatch(/^applied to PostgreSQL \(DATABASE_URL\): \d+_init/);
    expect(runCli('src/cli/migrate.ts', [], env).stdout).toBe('PostgreSQL (DATABASE_URL) is up to date');

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query(
      'SELECT migration_name, applied_steps_count, finished_at FROM _prisma_migrations ORDER BY migration_name',
    );
    await client.end();
    expect(rows).toEqual(
      readMigrations().map((m) => ({ migration_name: m.name, applied_steps_count: 1, finished_at: expect.any(Date) })),
    );

    const [a, b] = await Promise.all([startKeygate(env), startKeygate(env)]);
    try {
      const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
      await graphql(a.url, token, CREATE_APP, { input: { name: 'Shared' } });
      const listed = await graphql(b.url, token, LIST, FIRST_PAGE);
      expect(listed.body.data.applications.edges.map((e: any) => e.node.name)).toEqual(['Shared']);
      expect(a.output()).toContain('(PostgreSQL)');
      expect(await Promise.all([a.stop(), b.stop()])).toEqual([0, 0]);
      // A graceful stop ends the change-notification connection on purpose: nothing to warn about.
      for (const server of [a, b]) expect(server.output()).not.toMatch(/feed lost|"level":(40|50)/);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('waits for a PostgreSQL that is not there yet, then gives up with one line naming it', async () => {
    const port = await freePort();
    const env = {
      DATABASE_URL: `postgres://keygate:not-shown@127.0.0.1:${port}/shop`,
      KEYGATE_DB_CONNECT_TIMEOUT_SECONDS: '2',
      KEYGATE_DATA_DIR: dataDir(),
      KEYGATE_JWT_SECRET: 'a-shared-secret-that-is-long-enough-123',
    };
    const started = Date.now();
    const error = String(await startKeygate(env, ['pnpm', 'start'], repoRoot).catch((e: Error) => e));
    expect(Date.now() - started).toBeGreaterThan(1500);
    expect(error).toContain(`keygate: cannot connect to PostgreSQL at 127.0.0.1:${port}, database "shop" after 2 s (`);
    expect(error).toContain('connection refused (ECONNREFUSED)');
    expect(error).toContain('waiting for PostgreSQL');
    expect(error).not.toContain('not-shown');
    expect(error).not.toMatch(/^\s+at /m); // no stack trace
    // db:migrate says the same.
    const migrate = runCli('src/cli/migrate.ts', [], env);
    expect([migrate.status, migrate.stderr]).toEqual([
      1,
      expect.stringMatching(
        /^keygate db:migrate: cannot connect to PostgreSQL at 127\.0\.0\.1:\d+, database "shop" after 2 s/,
      ),
    ]);
  });

  it('starts once PostgreSQL comes up during the wait', async () => {
    const target = new URL(await createPostgresDatabase());
    const port = await freePort();
    const url = new URL(target);
    url.port = String(port);
    const env = { DATABASE_URL: url.href, KEYGATE_DATA_DIR: dataDir(), KEYGATE_JWT_SECRET: 'x'.repeat(40) };
    // The database "comes up" on the configured port once Keygate says it waits (a forwarder to the real one).
    let saidWaiting: () => void = () => {};
    const waiting = new Promise<void>((resolve) => (saidWaiting = resolve));
    const starting = startKeygate(env, undefined, undefined, (output) => {
      if (output.includes('waiting for PostgreSQL')) saidWaiting();
    });
    await Promise.race([waiting, starting]);
    const forwarder = createNetServer((socket) => {
      const upstream = connect(Number(target.port), target.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => forwarder.listen(port, '127.0.0.1', resolve));
    try {
      const server = await starting;
      try {
        expect(server.output()).toContain('waiting for PostgreSQL');
        expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      } finally {
        await server.stop();
      }
    } finally {
      forwarder.close();
    }
  });

  it('does not wait for what waiting cannot fix: a database that does not exist', async () => {
    const url = new URL(await createPostgresDatabase());
    url.pathname = '/no_such_database';
    const started = Date.now();
    const error = String(
      await startKeygate({ DATABASE_URL: url.href, KEYGATE_DATA_DIR: dataDir() }).catch((e: Error) => e),
    );
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(error).toMatch(
      /cannot connect to PostgreSQL at [^,]+, database "no_such_database": .*does not exist \(SQLSTATE 3D000\)/,
    );
    expect(error).not.toContain('waiting for PostgreSQL');
  });
});
