// Graceful shutdown: on SIGTERM the server stops accepting, finishes what is
// in flight, then exits 0; a second signal exits at once.
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { runCli, startKeygate, tempDirs } from '../support/process.ts';

const dirs = tempDirs('keygate-shutdown-');
afterAll(dirs.removeAll);

/** A POST /graphql whose body is sent in two parts, so it is in flight for as long as we like. */
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
        `POST /graphql HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`,
      );
    },
    finish: () => socket.write(body.slice(10)),
    response: async () => {
      await closed;
      return response;
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
  await new Promise((resolve) => setTimeout(resolve, 200));
  process.kill(-server.child.pid!, 'SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 300));
  // Still up for the request in flight, but no longer accepting connections.
  expect(server.child.exitCode).toBeNull();
  await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
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
});

it('exits at once on a second signal', async () => {
  const env = { KEYGATE_DATA_DIR: dirs.make() };
  const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
  const server = await startKeygate(env);
  const stuck = slowRequest(server.url, token);
  await stuck.start();
  await new Promise((resolve) => setTimeout(resolve, 200));
  process.kill(-server.child.pid!, 'SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(server.child.exitCode).toBeNull();
  const started = Date.now();
  const exited = new Promise<number | null>((resolve) => server.child.once('exit', (exit) => resolve(exit)));
  process.kill(-server.child.pid!, 'SIGTERM');
  expect(await exited).toBe(1);
  expect(Date.now() - started).toBeLessThan(3000);
  expect(server.output()).toContain('again: exiting now');
  stuck.destroy();
});
