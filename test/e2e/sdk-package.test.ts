// The SDK as a consumer gets it: `pnpm pack`, installed into a project outside
// the workspace, typechecked strictly, and the README's example run as written.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium } from '../support/browser.ts';
import { repoRoot, tempDirs } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

const dirs = tempDirs('keygate-sdk-consumer-');
let project: string;
let server: TestServer;
const tsc = join(repoRoot, 'node_modules', '.bin', 'tsc');

beforeAll(async () => {
  const packDir = dirs.make();
  execFileSync('pnpm', ['pack', '--pack-destination', packDir], { cwd: join(repoRoot, 'sdk'), stdio: 'pipe' });
  const tarball = join(packDir, readdirSync(packDir).find((f) => f.endsWith('.tgz'))!);
  project = dirs.make();
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const install = spawnSync(
    'npm',
    // @types/node: a Node consumer's own, for `process.env` in the README's example.
    ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', tarball, '@types/node@20'],
    {
      cwd: project,
      encoding: 'utf8',
      timeout: 240_000,
    },
  );
  if (install.status !== 0) throw new Error(`npm install failed:\n${install.stdout}\n${install.stderr}`);
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        // As strict as a consumer may be: the SDK's types must hold under every one of these.
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        noEmit: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        lib: ['es2022', 'dom'],
        types: ['node'],
        skipLibCheck: false,
      },
    }),
  );
  server = await startTestServer();
}, 300_000);
afterAll(async () => {
  await server?.close();
  dirs.removeAll();
});

function typecheck(file: string, source: string) {
  mkdirSync(join(project, 'check'), { recursive: true });
  writeFileSync(join(project, 'check', file), source);
  return spawnSync(tsc, ['-p', project, '--pretty', 'false'], { cwd: project, encoding: 'utf8' });
}

it('ships built JavaScript and types only: no TypeScript sources are needed to run it', () => {
  const pkg = JSON.parse(readFileSync(join(project, 'node_modules/@keygate/sdk/package.json'), 'utf8'));
  expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', import: './dist/index.js' });
  const dist = readdirSync(join(project, 'node_modules/@keygate/sdk/dist'));
  expect(dist).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'client.js', 'generated']));
  expect(readFileSync(join(project, 'node_modules/@keygate/sdk/dist/client.js'), 'utf8')).not.toMatch(
    /from '\.\/[^']+\.ts'/,
  );
});

it('is ready to publish: dependency ranges, an install section, no links that leave the package', () => {
  const root = join(project, 'node_modules/@keygate/sdk');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  expect(Object.keys(pkg.dependencies).sort()).toEqual(['@graphql-typed-document-node/core', '@urql/core']);
  for (const [name, range] of Object.entries(pkg.dependencies)) {
    expect(range, name).toMatch(/^\^\d+\.\d+\.\d+$/);
  }
  // No workspace package leaks into what consumers install.
  expect(Object.keys(pkg.devDependencies ?? {}).filter((name) => name.startsWith('@keygate/'))).toEqual([]);
  // The license it declares travels with it.
  expect(pkg.license).toBe('MIT');
  expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toBe(readFileSync(join(repoRoot, 'LICENSE'), 'utf8'));
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  expect(readme).toMatch(/^## Install\n\n```sh\nnpm install @keygate\/sdk/m);
  const links = [...readme.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!);
  for (const link of links.filter((l) => !/^(https?:|#)/.test(l))) {
    expect(existsSync(join(root, link.split('#')[0]!)), `README links ${link}, which is not in the package`).toBe(true);
  }
});

it('compiles the README example as TypeScript under strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess', () => {
  const readme = readFileSync(join(repoRoot, 'sdk', 'README.md'), 'utf8');
  const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  const result = typecheck('readme-example.ts', `${example}\nexport {};\n`);
  expect(result.stdout + result.stderr).toBe('');
  expect(result.status).toBe(0);
});

it('compiles a strict consumer, and refuses one that misuses the types', () => {
  const good = typecheck(
    'good.ts',
    `import { createKeygateClient, KeygateRequestError, ApplicationsDocument, type KeyStatus } from '@keygate/sdk';
const client = createKeygateClient({ url: 'http://localhost:4000/graphql', getToken: async () => 'token' });
export async function demo(): Promise<string> {
  const created = await client.keys.create({ applicationId: 'app', name: 'n', access: 'FULL_ACCESS' });
  if (created.ok) return created.value.secret;
  // Exhaustive: these are exactly the failures createKey can answer with.
  switch (created.error.__typename) {
    case 'KeyLimitReachedError': return String(created.error.limit);
    case 'ValidationError': return created.error.issues.map((i) => i.path.join('.')).join();
    case 'NotFoundError': return created.error.id;
    case 'PolicyViolationError': return created.error.violations.map((v) => v.rule + ' ' + v.path.join('.')).join();
  }
}
export async function more(): Promise<string> {
  const statuses: KeyStatus[] = ['ACTIVE', 'REVOKED'];
  for await (const app of client.applications.all()) statuses.push(app.enabled ? 'ACTIVE' : 'EXPIRED');
  try { await client.viewer(); } catch (e) { if (e instanceof KeygateRequestError) return e.code; }
  return ApplicationsDocument.kind;
}
`,
  );
  expect(good.stdout + good.stderr).toBe('');
  expect(good.status).toBe(0);

  const bad = typecheck(
    'bad.ts',
    `import { createKeygateClient } from '@keygate/sdk';
const client = createKeygateClient({ url: 'x' });
export async function wrong() {
  const created = await client.keys.create({ applicationId: 'app', access: 'EVERYTHING' });
  const secret: number = created.ok ? created.value.secret : 0;
  return secret;
}
`,
  );
  expect(bad.status).not.toBe(0);
  const errors = bad.stdout.split('\n').filter((line) => line.includes('check/bad.ts'));
  expect(errors.join('\n')).toMatch(/TS2322|TS2345|TS2741|TS2820/);
  expect(errors.length).toBeGreaterThanOrEqual(2);
  // The good file is still clean when the bad one is present.
  expect(bad.stdout).not.toContain('check/good.ts');
});

it('runs the README example as written, in Node, against a real server', async () => {
  const readme = readFileSync(join(repoRoot, 'sdk', 'README.md'), 'utf8');
  const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(example).toBeTruthy();
  writeFileSync(join(project, 'example.mjs'), example!);
  const token = await server.merchantToken('readme');
  // Asynchronously: the server runs in this process and must keep answering meanwhile.
  const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['example.mjs'], {
      cwd: project,
      env: { ...process.env, KEYGATE_URL: `${server.url}/graphql`, KEYGATE_TOKEN: token },
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.stdout).toMatch(/new key, store it in your secrets manager: kg_live_[0-9A-Za-z]{28}\n/);
  expect(run.stdout).toMatch(/kg_live_\w{4} Checkout backend ACTIVE never used\n/);
  expect(run.stdout).toMatch(/revoked at \d{4}-\d\d-\d\dT/);
});

it('works in a browser: bundled as a frontend would bundle it, in headless Chromium, across origins', async () => {
  // The page is served from another origin than Keygate, as a merchant dashboard would be.
  const token = await server.merchantToken('browser');
  const entry = `
import { createKeygateClient } from '@keygate/sdk';
try {
  const keygate = createKeygateClient({ url: ${JSON.stringify(`${server.url}/graphql`)}, token: ${JSON.stringify(token)} });
  const app = await keygate.applications.create({ name: 'From the browser' });
  const key = await keygate.keys.create({ applicationId: app.value.id, name: 'Frontend', access: 'READ_ONLY' });
  const names = [];
  for await (const k of keygate.keys.all(app.value.id)) names.push(k.name);
  const conflict = await keygate.applications.create({ name: 'from the BROWSER' });
  window.result = { app: app.ok, secret: key.value.secret.slice(0, 8), names, conflict: conflict.error.code };
} catch (error) {
  window.result = { error: String(error) };
}`;
  // As Vite or webpack would: browser platform, ESM, production define. Node built-ins would fail the build.
  const bundle = await build({
    stdin: { contents: entry, resolveDir: project, loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const script = bundle.outputFiles[0]!.text;
  const files: Server = createServer((req, res) => {
    if (req.url === '/app.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return void res.end(script);
    }
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<!doctype html><script type="module" src="/app.js"></script>');
    }
    res.writeHead(204);
    res.end();
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  const browser = await launchChromium();
  try {
    const tab = await browser.newPage();
    const problems: string[] = [];
    tab.on('pageerror', (error) => problems.push(error.message));
    tab.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    await tab.goto(`http://127.0.0.1:${(files.address() as AddressInfo).port}/`);
    await tab.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, undefined, {
      timeout: 20_000,
    });
    const result = await tab.evaluate(() => (window as unknown as { result: unknown }).result);
    expect(result).toEqual({ app: true, secret: 'kg_live_', names: ['Frontend'], conflict: 'NAME_CONFLICT' });
    expect(problems).toEqual([]);
  } finally {
    await browser.close();
    files.close();
  }
}, 60_000);
