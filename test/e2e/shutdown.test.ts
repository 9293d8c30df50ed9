// Graceful shutdown: on SIGTERM the server stops accepting, finishes what is
// in flight, then exits 0; a second signal exits at once. And `pnpm start`,
// signalled every way a supervisor or a person signals it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/postgres-cluster.ts';
import { repoRoot, runCli, startKeygate, tempDirs } from '../support/process.ts';
import { quietFor, waitFor } from '../support/wait.ts';

const dirs = tempDirs('keygate-shutdown-');
afterAll(dirs.removeAll);

/**
 * A POST /graphql whose body is sent in two parts, so it is in flight for as long as we like.
 * It asks for `100 Continue`, which the server sends once it has taken the request: `start()`
 * resolves then, so the request is known to be in flight, with no guess at how long that takes.
 */
function slowRequest(url: string, token: string) {
  const { hostname, port } = new URL(url);
  const body = JSON.stringify({ query: '{ viewer { merchantId } }' });
  const socket: Socket = connect(Number(port), hostname);
  let response = '';
  socket.on('data', (chunk) => (response += chunk));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const opened = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return {
    async start() {
      await opened;
      socket.write(
        `POST /graphql HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`,
      );
      await waitFor(
        () => response.startsWith('HTTP/1.1 100 Continue\r\n\r\n'),
        10_000,
        'the server to take the request',
      );
    },
    finish: () => socket.write(body.slice(10)),
    response: async () => {
      await closed;
      return response.replace('HTTP/1.1 100 Continue\r\n\r\n', '');
    },
    destroy: () => socket.destroy(),
  };
}

it('finishes in-flight requests, refuses new ones, then exits 0', async () => {
  const env = { KEYGATE_DATA_DIR: dirs.make() };
  const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
  const server = await startKeygate(env);
  const request = slowRequest(server.url, token);
  await request.start();
  process.kill(-server.child.pid!, 'SIGTERM');
  await waitFor(() => server.output().includes('SIGTERM: shutting down'), 10_000, 'the shutdown to begin');
  // Still up for the request in flight, but no longer accepting connections.
  await waitFor(
    () =>
      fetch(`${server.url}/healthz`).then(
        () => false,
        () => true,
      ),
    10_000,
    'the port to refuse',
  );
  expect(server.child.exitCode).toBeNull();
  request.finish();
  expect(await request.response()).toMatch(/^HTTP\/1\.1 200 [\s\S]*"merchantId":"acme"/);
  const code = await new Promise<number | null>((resolve) => {
    if (server.child.exitCode !== null) resolve(server.child.exitCode);
    else server.child.once('exit', (exit) => resolve(exit));
  });
  expect(code).toBe(0);
  expect(server.output()).toContain('SIGTERM: shutting down');
  expect(server.output()).toContain('stopped:');
  // The embedded database was closed, which releases its directory.
  expect(existsSync(join(env.KEYGATE_DATA_DIR, 'pglite', 'keygate.lock'))).toBe(false);
  // Everything it wrote (the database, its write-ahead log, the development secret) is the owner's alone.
  expect(readableByOthers(env.KEYGATE_DATA_DIR)).toEqual([]);
});

/** Files and folders under `path` that anyone but their owner may read, write or enter. */
function readableByOthers(path: string): string[] {
  const found: string[] = [];
  const walk = (at: string) => {
    const stat = statSync(at);
    if ((stat.mode & 0o077) !== 0) found.push(`${at} ${(stat.mode & 0o777).toString(8)}`);
    if (stat.isDirectory()) for (const entry of readdirSync(at)) walk(join(at, entry));
  };
  walk(path);
  return found;
}

it('exits at once on a second signal', async () => {
  const env = { KEYGATE_DATA_DIR: dirs.make() };
  const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
  const server = await startKeygate(env);
  const stuck = slowRequest(server.url, token);
  await stuck.start();
  process.kill(-server.child.pid!, 'SIGTERM');
  await waitFor(() => server.output().includes('SIGTERM: shutting down'), 10_000, 'the shutdown to begin');
  // Later than a relayed copy of the first signal would come (500 ms): this is a second one.
  await quietFor(600);
  expect(server.child.exitCode).toBeNull();
  const started = Date.now();
  const exited = new Promise<number | null>((resolve) => server.child.once('exit', (exit) => resolve(exit)));
  process.kill(-server.child.pid!, 'SIGTERM');
  expect(await exited).toBe(1);
  expect(Date.now() - started).toBeLessThan(3000);
  expect(server.output()).toContain('again: exiting now');
  stuck.destroy();
});

describe('`pnpm start` signalled as supervisors signal it', () => {
  /** `pnpm start` from the repository's root, as the README says, on a fixed port. */
  async function pnpmStart() {
    const env = { KEYGATE_DATA_DIR: dirs.make(), PORT: String(await freePort()) };
    const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
    const server = await startKeygate(env, ['pnpm', 'start'], repoRoot);
    const pnpm = server.child.pid!;
    const keygate = Number(spawnSync('pgrep', ['-P', String(pnpm)], { encoding: 'utf8' }).stdout.trim());
    // pnpm's child is Keygate itself (the script execs it), the built server, no tsx.
    const command = readFileSync(`/proc/${keygate}/cmdline`, 'utf8');
    expect(command).toContain('server/dist/main.js');
    expect(command).not.toContain('tsx');
    // The quickstart serves the dashboard at / with no step of its own.
    const home = await fetch(`${server.url}/`);
    expect([home.status, (await home.text()).includes('<div id="root">')]).toEqual([200, true]);
    const exited = new Promise<number | null>((resolve) => {
      if (server.child.exitCode !== null) resolve(server.child.exitCode);
      else server.child.once('exit', (code) => resolve(code));
    });
    return { env, token, server, pnpm, keygate, exited };
  }

  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  it.each([
    ['SIGTERM to pnpm (docker stop, a supervisor)', 'pnpm', 'SIGTERM'],
    ['SIGTERM to Keygate itself', 'keygate', 'SIGTERM'],
    ['SIGTERM to the process group (systemd)', 'group', 'SIGTERM'],
    ['SIGINT to the process group (Ctrl-C)', 'group', 'SIGINT'],
  ] as const)('%s: one graceful shutdown, exit 0, the port free', async (_name, target, signal) => {
    const { server, token, pnpm, keygate, exited } = await pnpmStart();
    const request = slowRequest(server.url, token);
    await request.start();
    const started = Date.now();
    process.kill(target === 'pnpm' ? pnpm : target === 'keygate' ? keygate : -pnpm, signal);
    await waitFor(() => server.output().includes(`${signal}: shutting down`), 10_000, 'the shutdown to begin');
    request.finish();
    expect(await request.response()).toMatch(/^HTTP\/1\.1 200 [\s\S]*"merchantId":"acme"/);
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(alive(keygate)).toBe(false);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    const output = server.output();
    expect(output.match(/shutting down/g)).toHaveLength(1);
    expect(output).toContain(`${signal}: shutting down`);
    expect(output).toContain('stopped:');
    expect(output).not.toContain('again: exiting now');
  });

  it('a later second Ctrl-C from a person exits at once', async () => {
    const { server, token, pnpm, keygate, exited } = await pnpmStart();
    const stuck = slowRequest(server.url, token);
    await stuck.start();
    process.kill(-pnpm, 'SIGINT');
    await waitFor(() => server.output().includes('SIGINT: shutting down'), 10_000, 'the shutdown to begin');
    // A person's second Ctrl-C comes later than pnpm's relayed copy of the first (500 ms).
    await quietFor(600);
    expect(alive(keygate)).toBe(true); // still waiting for the stuck request
    const started = Date.now();
    process.kill(-pnpm, 'SIGINT');
    expect(await exited).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(alive(keygate)).toBe(false);
    expect(server.output()).toContain('again: exiting now');
    stuck.destroy();
  });

  it('shuts down by itself when pnpm is killed outright (SIGKILL), never lingering as an orphan', async () => {
    const { server, pnpm, keygate } = await pnpmStart();
    process.kill(pnpm, 'SIGKILL');
    await waitFor(() => !alive(keygate), 15_000, 'Keygate to exit without pnpm');
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    expect(server.output()).toContain('parent gone: shutting down');
  });
});

describe('the production command, `node server/dist/main.js`, signalled as supervisors signal it', () => {
  it.each([
    ['SIGTERM (docker stop, systemd)', 'SIGTERM'],
    ['SIGINT (Ctrl-C)', 'SIGINT'],
  ] as const)('%s: one graceful shutdown, exit 0, the port free', async (_name, signal) => {
    const env = { KEYGATE_DATA_DIR: dirs.make(), PORT: String(await freePort()) };
    const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
    // The built server, as docs/operations.md runs it: plain JavaScript, no tsx.
    const server = await startKeygate(env, [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')], repoRoot);
    expect(readFileSync(`/proc/${server.child.pid}/cmdline`, 'utf8')).not.toContain('tsx');
    const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
    const request = slowRequest(server.url, token);
    await request.start();
    process.kill(server.child.pid!, signal);
    await waitFor(() => server.output().includes(`${signal}: shutting down`), 10_000, 'the shutdown to begin');
    request.finish();
    expect(await request.response()).toMatch(/^HTTP\/1\.1 200 [\s\S]*"merchantId":"acme"/);
    expect(await exited).toBe(0);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    const output = server.output();
    expect(output.match(/shutting down/g)).toHaveLength(1);
    expect(output).toContain(`${signal}: shutting down`);
    expect(output).toContain('stopped:');
  });
});
