import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from '../auth/authenticator.ts';
import type { AuthConfig } from '../config.ts';
import { createDashboardHandler, type DashboardOptions } from './dashboard.ts';

const dir = mkdtempSync(join(tmpdir(), 'keygate-dashboard-'));
const servers: Server[] = [];
const outside = `keygate-outside-${process.pid}`;
const devAuth: AuthConfig = {
  key: { kind: 'secret', secret: new TextEncoder().encode('d'.repeat(40)), origin: 'development file' },
  merchantClaim: 'merchant_id',
};
const realAuth: AuthConfig = { ...devAuth, key: { ...devAuth.key, origin: 'environment' } } as AuthConfig;

beforeAll(() => {
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
  writeFileSync(join(dir, 'assets', 'index-abc.js'), `console.log(${JSON.stringify('x'.repeat(5000))});`);
  writeFileSync(join(dir, '..', `${outside}.txt`), 'not the dashboard');
});
afterAll(() => {
  for (const server of servers) server.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(dir, '..', `${outside}.txt`), { force: true });
});

async function serve(options: Partial<DashboardOptions>): Promise<string> {
  const handle = createDashboardHandler({ dir, embedOrigins: [], auth: devAuth, host: '127.0.0.1', ...options });
  const server = createServer((req, res) => {
    if (!handle(req, res, (req.url ?? '/').split('?')[0]!)) res.writeHead(418).end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const signIn = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}/dashboard/sign-in-as`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

/** A POST with the Host header as given (fetch would not let a test set it). */
function rawPost(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    import('node:http').then(({ request }) => {
      const body = JSON.stringify({ merchantId: 'acme' });
      const req = request(
        `${url}/dashboard/sign-in-as`,
        { method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
        (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  });
}

describe('the dashboard handler', () => {
  it('serves index.html for page addresses and assets gzipped, never a file outside dist', async () => {
    const url = await serve({});
    for (const path of ['/', '/applications', '/applications/abc', '/keys/x', '/audit', '/webhooks/']) {
      const page = await fetch(`${url}${path}`);
      expect([page.status, await page.text()]).toEqual([200, '<!doctype html><div id="root"></div>']);
      expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'self'");
    }
    const asset = await fetch(`${url}/assets/index-abc.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await asset.text()).length).toBeGreaterThan(5000); // fetch decodes the gzip
    const raw = await new Promise<{ encoding?: string; body: Buffer }>((resolve) => {
      import('node:http').then(({ get }) =>
        get(`${url}/assets/index-abc.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
        }),
      );
    });
    expect(raw.encoding).toBe('gzip');
    expect(gunzipSync(raw.body).toString()).toContain('console.log');
    for (const path of [
      `/assets/%2e%2e/%2e%2e/${outside}.txt`,
      `/assets/..%2f..%2f${outside}.txt`,
      '/assets/nope.js',
      '/assets/%E0%A4%A',
    ]) {
      expect((await fetch(`${url}${path}`)).status, path).toBe(404);
    }
    // Not a GET: left to the GraphQL app.
    expect((await fetch(`${url}/`, { method: 'POST' })).status).toBe(418);
  });

  it('answers only its own pages and built files; anything else is not the dashboard’s', async () => {
    const handle = createDashboardHandler({ dir, embedOrigins: [], auth: devAuth, host: '127.0.0.1' });
    const server = createServer((req, res) => {
      if (!handle(req, res, (req.url ?? '/').split('?')[0]!)) res.writeHead(418).end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Mistyped API paths, unknown pages, a script asking for JSON: left to the app (its 404).
    for (const path of ['/v1/auth/', '/keys/x/y', '/graphq', '/applications/a/b', '/nope']) {
      expect([path, (await fetch(`${url}${path}`)).status]).toEqual([path, 418]);
    }
    const json = await fetch(`${url}/applications`, { headers: { accept: 'application/json' } });
    expect(json.status).toBe(418);
    // The HTML is never served as an asset, and so never without its CSP or as immutable.
    for (const path of ['/assets/..%2findex.html', '/assets/../index.html', '/index.html']) {
      const response = await fetch(`${url}${path}`);
      expect([path, response.status === 200 && response.headers.get('content-security-policy') === null]).toEqual([
        path,
        false,
      ]);
    }
    // Misses are never kept: 3,000 of them leave only the files that were served.
    for (let i = 0; i < 3000; i++) await fetch(`${url}/assets/missing-${i}.js`);
    await fetch(`${url}/assets/index-abc.js`);
    expect(handle.cachedFiles()).toBe(1);
    // A file that appears after start-up is not the build that was listed.
    writeFileSync(join(dir, 'assets', 'late.js'), 'late');
    expect((await fetch(`${url}/assets/late.js`)).status).toBe(404);
  });

  it('mints a development token on loopback only, for a well-formed merchant id, from its own page', async () => {
    const url = await serve({});
    expect(await (await fetch(`${url}/dashboard/config.json`)).json()).toEqual({
      devSignIn: true,
      embedOrigins: [],
      integration: { apiUrl: 'https://api.example.com', keyHeader: 'Authorization' },
    });
    const minted = await signIn(url, { merchantId: 'acme' }, { origin: url });
    expect(minted.status).toBe(200);
    const { token } = (await minted.json()) as { token: string };
    expect(await createAuthenticator(devAuth)(`Bearer ${token}`)).toMatchObject({
      kind: 'merchant',
      merchantId: 'acme',
    });
    expect((await signIn(url, { merchantId: 'has space' }, { origin: url })).status).toBe(400);
    expect((await signIn(url, 'not an object', { origin: url })).status).toBe(400);
    expect((await signIn(url, { merchantId: 'acme' }, { origin: 'https://evil.example' })).status).toBe(403);
    // Without its own page's Origin, through a proxy on this machine, or by a rebound name: refused.
    const port = new URL(url).port;
    const refusals: Record<string, string>[] = [
      {},
      { origin: url, 'x-forwarded-for': '203.0.113.9' },
      { origin: url, forwarded: 'for=203.0.113.9' },
      { origin: url, via: '1.1 proxy' },
      { origin: url, 'x-real-ip': '203.0.113.9' },
    ];
    for (const headers of refusals) {
      const response = await signIn(url, { merchantId: 'acme' }, headers);
      expect([JSON.stringify(headers), response.status]).toEqual([JSON.stringify(headers), 403]);
      expect(await response.text()).not.toContain('eyJ');
    }
    const rebound = await rawPost(url, {
      host: `rebind.attacker.example:${port}`,
      origin: `http://rebind.attacker.example:${port}`,
    });
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain('eyJ');
    // localhost is a loopback name, as the browser sends it.
    const local = await rawPost(url, { host: `localhost:${port}`, origin: `http://localhost:${port}` });
    expect(local.status).toBe(200);

    for (const options of [{ host: '0.0.0.0' }, { auth: realAuth }]) {
      const refused = await serve(options);
      expect(await (await fetch(`${refused}/dashboard/config.json`)).json()).toMatchObject({ devSignIn: false });
      const response = await signIn(refused, { merchantId: 'acme' });
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('eyJ');
    }
  });

  it('says how to build it when web/dist is missing', async () => {
    const url = await serve({ dir: join(dir, 'missing') });
    const page = await fetch(`${url}/`);
    expect([page.status, await page.text()]).toEqual([503, expect.stringContaining('pnpm build')]);
  });
});
