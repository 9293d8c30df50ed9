// @keygate/verifier where its users stand: packed with `pnpm pack`, installed with npm into a
// project outside the workspace, in the README's Express app copied as written, against two
// Keygate processes on one PostgreSQL. Changes made on either instance are refused by the app on
// its next request; a cut feed never yields a stale VALID; credits are exact across two app
// processes and /v1/auth, also when one app is killed with SIGKILL mid-load.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import {
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  type CreateKeyInput,
  EditKeyDocument as EDIT_KEY,
  RevokeKeyDocument as REVOKE_KEY,
  RollKeyDocument as ROLL_KEY,
  SetKeyEnabledDocument as SET_ENABLED,
} from '@keygate/sdk/documents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../support/database.ts';
import { freePort } from '../support/postgres-cluster.ts';
import { graphql, type KeygateProcess, repoRoot, runCli, startKeygate, tempDirs } from '../support/process.ts';
import { ok } from '../support/results.ts';
import { waitFor } from '../support/wait.ts';

const dirs = tempDirs();
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
let project: string;
let env: Record<string, string>;
let keygate: KeygateProcess[] = [];
let ports: number[] = [];
let merchant: string;
let service: string;
let applicationId: string;
const apps: ChildProcess[] = [];

/** The README's Express example, exactly as printed there. */
function readmeApp(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Verify keys in your API'));
  const code = /```js\n([\s\S]*?)```/.exec(section);
  if (!code) throw new Error('the README has no Express example under "Verify keys in your API"');
  return code[1]!;
}

beforeAll(async () => {
  const packDir = dirs.make();
  execFileSync('pnpm', ['pack', '--pack-destination', packDir], { cwd: join(repoRoot, 'verifier'), stdio: 'pipe' });
  const tarball = join(packDir, readdirSync(packDir).find((f) => f.endsWith('.tgz'))!);
  project = dirs.make();
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'platform-api', private: true, type: 'module' }));
  const install = spawnSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', tarball, 'express@5'],
    { cwd: project, encoding: 'utf8', timeout: 240_000 },
  );
  if (install.status !== 0) throw new Error(`npm install failed:\n${install.stdout}\n${install.stderr}`);
  writeFileSync(join(project, 'app.mjs'), readmeApp());

  const url = await createPostgresDatabase();
  env = {
    DATABASE_URL: url,
    KEYGATE_JWT_SECRET: 'y'.repeat(40),
    KEYGATE_VERIFIER_HEARTBEAT_MS: '500',
    KEYGATE_MAX_KEYS_PER_APPLICATION: '1000',
  };
  ports = [await freePort(), await freePort()];
  keygate = [];
  for (const port of ports) {
    keygate.push(await startKeygate({ ...env, PORT: String(port), KEYGATE_DATA_DIR: dirs.make() }));
  }
  merchant = runCli('src/cli/token.ts', ['acme'], env).stdout;
  service = runCli('src/cli/token.ts', ['--verifier'], env).stdout;
  applicationId = ok(
    (await graphql(keygate[0]!.url, merchant, CREATE_APP, { input: { name: 'Platform API' } })).body.data
      .createApplication,
  ).application.id;
}, 300_000);

afterAll(async () => {
  for (const app of apps) if (app.exitCode === null && app.signalCode === null) app.kill('SIGKILL');
  await Promise.all(keygate.map((k) => k.stop()));
  agent.destroy();
  dirs.removeAll();
});

/** Starts the README's app against a Keygate instance; resolves once it answers. */
async function startApp(keygateUrl: string): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['app.mjs'], {
    cwd: project,
    env: { PATH: process.env.PATH ?? '', KEYGATE_URL: keygateUrl, KEYGATE_TOKEN: service, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  apps.push(child);
  let output = '';
  child.stdout!.on('data', (c: Buffer) => {
    output += c;
  });
  child.stderr!.on('data', (c: Buffer) => {
    output += c;
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await call(url, 'GET', '/orders', null).catch(() => null)) !== null, 30_000);
  return { url, child, output: () => output };
}

function call(base: string, method: string, path: string, key: string | null) {
  return new Promise<{ status: number; code: string | undefined; body: string }>((resolve, reject) => {
    const req = request(`${base}${path}`, { method, agent, headers: key ? { 'x-api-key': key } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode!, code: res.headers['x-keygate-code'] as string | undefined, body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function createKey(on: KeygateProcess, input: Partial<CreateKeyInput> = {}) {
  const created = await graphql(on.url, merchant, CREATE_KEY, {
    input: { applicationId, name: 'Checkout backend', access: 'FULL_ACCESS', scopes: ['orders:*'], ...input },
  });
  return ok(created.body.data.createKey);
}

describe('the package as published', () => {
  it("depends on two packages by ^ range, inlines Keygate's engine, and its types name only its own", () => {
    const root = join(project, 'node_modules', '@keygate', 'verifier');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg.dependencies).toEqual({
      'ipaddr.js': expect.stringMatching(/^\^/),
      'lru-cache': expect.stringMatching(/^\^/),
    });
    // What consumers install names no workspace package (devDependencies are never installed).
    expect(pkg.peerDependencies ?? {}).toEqual({});
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain('npm install @keygate/verifier');
    for (const file of readdirSync(join(root, 'dist'))) {
      if (!file.endsWith('.d.ts')) continue;
      const text = readFileSync(join(root, 'dist', file), 'utf8');
      expect(text, file).not.toContain('@keygate/');
      for (const [, target] of text.matchAll(/from '(\.[^']+)'/g)) {
        expect(readdirSync(join(root, 'dist')), `${file} imports ${target}`).toContain(
          target!.slice(2).replace(/\.js$/, '.d.ts'),
        );
      }
    }
    for (const entry of ['index', 'express', 'fastify', 'hono']) {
      expect(readFileSync(join(root, 'dist', `${entry}.js`), 'utf8')).not.toMatch(/from ["']@keygate\//);
    }
  });
});

describe('the README app with the packed verifier, on two Keygate instances', () => {
  it('refuses a key revoked, disabled, rolled or edited on either instance on its next request, 100 of 100', async () => {
    const app = await startApp(keygate[0]!.url);
    const refused: string[] = [];
    for (let trial = 0; trial < 100; trial++) {
      const on = keygate[trial % 2]!;
      const { secret, key } = await createKey(on);
      expect((await call(app.url, 'POST', '/orders', secret)).status).toBe(201);
      expect((await call(app.url, 'GET', '/orders', secret)).status).toBe(200);
      let expected: string;
      switch (Math.floor(trial / 2) % 4) {
        case 0:
          ok((await graphql(on.url, merchant, REVOKE_KEY, { input: { id: key.id } })).body.data.revokeKey);
          expected = 'REVOKED';
          break;
        case 1:
          ok(
            (await graphql(on.url, merchant, SET_ENABLED, { input: { id: key.id, enabled: false } })).body.data
              .setKeyEnabled,
          );
          expected = 'KEY_DISABLED';
          break;
        case 2:
          ok((await graphql(on.url, merchant, ROLL_KEY, { input: { id: key.id } })).body.data.rollKey);
          expected = 'EXPIRED';
          break;
        default:
          ok(
            (await graphql(on.url, merchant, EDIT_KEY, { input: { id: key.id, scopes: ['refunds:*'] } })).body.data
              .editKey,
          );
          expected = 'INSUFFICIENT_SCOPE';
      }
      const next = await call(app.url, 'POST', '/orders', secret);
      refused.push(
        next.code === expected ? 'refused' : `trial ${trial}: ${next.status} ${next.code} (wanted ${expected})`,
      );
    }
    expect(refused.filter((r) => r !== 'refused')).toEqual([]);
    // The secret of no key appears in what the app printed.
    expect(app.output()).not.toMatch(/kg_(live|test)_/);
    app.child.kill('SIGTERM');
  }, 180_000);

  it('a change made while the feed is cut is never missed: no stale VALID, and the cache rebuilds after', async () => {
    const app = await startApp(keygate[0]!.url);
    const { secret, key } = await createKey(keygate[1]!);
    const other = await createKey(keygate[1]!);
    expect((await call(app.url, 'GET', '/orders', secret)).status).toBe(200);
    expect((await call(app.url, 'GET', '/orders', other.secret)).status).toBe(200);
    // The instance the app speaks to goes away; the key is revoked on the other meanwhile.
    await keygate[0]!.stop();
    ok((await graphql(keygate[1]!.url, merchant, REVOKE_KEY, { input: { id: key.id } })).body.data.revokeKey);
    for (let i = 0; i < 20; i++) {
      const answer = await call(app.url, 'GET', '/orders', secret);
      expect(answer.status, answer.body).not.toBe(200);
      expect(['UNAVAILABLE', 'REVOKED']).toContain(answer.code);
    }
    // Back on the same port: the revoked key stays refused, the other verifies again.
    keygate[0] = await startKeygate({ ...env, PORT: String(ports[0]), KEYGATE_DATA_DIR: dirs.make() });
    await waitFor(async () => (await call(app.url, 'GET', '/orders', other.secret)).status === 200, 30_000);
    expect((await call(app.url, 'GET', '/orders', secret)).code).toBe('REVOKED');
    app.child.kill('SIGTERM');
  }, 120_000);

  it('1,000 credits over two app processes and /v1/auth, 4,000 concurrent requests: exactly 1,000 accepted', async () => {
    const [one, two] = await Promise.all([startApp(keygate[0]!.url), startApp(keygate[1]!.url)]);
    const { secret } = await createKey(keygate[0]!, { credits: { remaining: 1000 } });
    const auth = (k: KeygateProcess) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${k.url}/v1/auth`, { agent, headers: { 'x-api-key': secret } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
        req.end();
      });
    const statuses = await Promise.all(
      Array.from({ length: 4000 }, (_, i) =>
        i % 3 === 0
          ? call(one.url, 'GET', '/orders', secret).then((r) => r.status)
          : i % 3 === 1
            ? call(two.url, 'GET', '/orders', secret).then((r) => r.status)
            : auth(keygate[1]!),
      ),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(1000);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    one.child.kill('SIGTERM');
    two.child.kill('SIGTERM');
  }, 120_000);

  it('an app killed with SIGKILL mid-load never lets the key be overspent', async () => {
    const [one, two] = await Promise.all([startApp(keygate[0]!.url), startApp(keygate[1]!.url)]);
    const { secret } = await createKey(keygate[0]!, { credits: { remaining: 600 } });
    let accepted = 0;
    const hammer = async (base: string, count: number) => {
      for (let i = 0; i < count; i++) {
        const answer = await call(base, 'GET', '/orders', secret).catch(() => null);
        if (answer?.status === 200) accepted++;
      }
    };
    const killed = hammer(two.url, 400);
    setTimeout(() => two.child.kill('SIGKILL'), 150);
    await Promise.all([hammer(one.url, 400), hammer(one.url, 400), killed]);
    // Whatever the killed process held is lost, never spent twice.
    expect(accepted).toBeLessThanOrEqual(600);
    expect(accepted).toBeGreaterThan(0);
    one.child.kill('SIGTERM');
  }, 120_000);
});
