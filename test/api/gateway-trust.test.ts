// /v1/auth reads what a route requires, and what it costs, from the auth URL that only the
// gateway's configuration writes; never from headers, which nginx and Traefik hand on from
// any client. The requests here are shaped as Traefik's ForwardAuth and Envoy's ext_authz
// send them (nginx is run for real in test/e2e/nginx.test.ts), each with a hostile client's
// headers on board.
import { request } from 'node:http';
import {
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  type CreateKeyInput,
  SetIpRulesDocument as SET_IP_RULES,
} from '@keygate/sdk/documents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let s: TestServer;
const secrets: Record<string, string> = {};

beforeAll(async () => {
  // The gateway (the test's own loopback address) is trusted, as docs/verification.md says it must be.
  s = await startTestServer({ KEYGATE_TRUSTED_PROXIES: '127.0.0.1', KEYGATE_FAILED_VERIFICATIONS: '30' });
  const token = await s.merchantToken('acme');
  const app = ok((await s.graphql(token, CREATE_APP, { input: { name: 'Gateways' } })).data.createApplication)
    .application.id;
  const kinds: Record<string, Partial<CreateKeyInput>> = {
    readOnly: { access: 'READ_ONLY' },
    empty: { access: 'FULL_ACCESS', credits: { remaining: 0 } },
    ten: { access: 'FULL_ACCESS', credits: { remaining: 10 } },
    office: { access: 'FULL_ACCESS' },
    orders: { access: 'FULL_ACCESS', scopes: ['orders:*'] },
  };
  for (const [name, input] of Object.entries(kinds)) {
    const created = await s.graphql(token, CREATE_KEY, { input: { applicationId: app, name, ...input } });
    secrets[name] = ok(created.data.createKey).secret;
    if (name === 'office') {
      await s.graphql(token, SET_IP_RULES, {
        input: {
          keyId: ok(created.data.createKey).key.id,
          rules: [{ cidr: '10.0.0.0/8', action: 'ALLOW' }],
          defaultAction: 'DENY',
        },
      });
    }
  }
}, 60_000);

afterAll(() => s?.close());

interface Answer {
  status: number;
  code: string;
  credits: string | undefined;
  /** A refusal's body; null for a 200, which has none. */
  body: { valid: boolean; code: string; message?: string } | null;
}

/** One request to Keygate exactly as given: method, path (query included) and headers. */
function send(method: string, path: string, headers: Record<string, string>): Promise<Answer> {
  const { port } = new URL(s.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          code: String(res.headers['x-keygate-code']),
          credits: res.headers['x-keygate-credits-remaining'] as string | undefined,
          body: body === '' ? null : JSON.parse(body),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** What a client adds to its own request, hoping the gateway passes it on. */
const CLIENT_CLAIMS = {
  'x-original-method': 'GET',
  'x-real-ip': '10.1.2.3',
  forwarded: 'for=10.1.2.3',
  'x-keygate-key-id': 'ApiKey:not-mine',
};

/**
 * Traefik's ForwardAuth with trustForwardHeader: false: a GET to the configured address
 * with every client header copied, and its own X-Forwarded-* (the client's replaced).
 */
const traefik = (address: string, method: string, key: string, client: Record<string, string> = {}) =>
  send('GET', address, {
    ...CLIENT_CLAIMS,
    ...client,
    'x-api-key': key,
    'x-forwarded-method': method,
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'api.example.com',
    'x-forwarded-uri': '/api/orders?access=READ_ONLY&cost=0',
    'x-forwarded-for': '127.0.0.51',
  });

/**
 * Envoy's HTTP ext_authz: the client's method, the path prefix followed by the client's own
 * path and query, only the allowed headers (the key and X-Forwarded-For, to which Envoy has
 * appended the peer it saw).
 */
const envoy = (prefix: string, method: string, clientPath: string, key: string, clientXff = '10.1.2.3') =>
  send(method, `${prefix}${clientPath}`, { 'x-api-key': key, 'x-forwarded-for': `${clientXff}, 127.0.0.52` });

describe('Traefik ForwardAuth, as docs/verification.md configures it', () => {
  it('a read-only key cannot claim a read: Traefik’s own method header decides, the strictest wins', async () => {
    const answer = await traefik('/v1/auth?cost=1', 'POST', secrets.readOnly!);
    expect([answer.status, answer.code]).toEqual([403, 'INSUFFICIENT_ACCESS']);
    expect((await traefik('/v1/auth?cost=1', 'GET', secrets.readOnly!)).status).toBe(200);
  });

  it('a client’s requirement or cost header is refused, and spends nothing', async () => {
    for (const [name, value] of [
      ['x-keygate-cost', '0'],
      ['x-keygate-required-access', 'READ_ONLY'],
      ['x-keygate-required-scopes', ''],
    ] as const) {
      const answer = await traefik('/v1/auth?cost=1', 'POST', secrets.ten!, { [name]: value });
      expect([name, answer.status, answer.code]).toEqual([name, 400, 'BAD_REQUIREMENTS']);
      expect(answer.body?.message).toContain('auth URL');
    }
    const paid = await traefik('/v1/auth?cost=4', 'POST', secrets.ten!);
    expect([paid.status, paid.credits]).toEqual([200, '6']);
    expect((await traefik('/v1/auth?cost=1', 'POST', secrets.empty!)).code).toBe('USAGE_EXCEEDED');
  });

  it('IP rules see the client Traefik saw, not an address the client claims', async () => {
    const answer = await traefik('/v1/auth', 'GET', secrets.office!);
    expect([answer.status, answer.code]).toEqual([403, 'IP_DENIED']);
  });
});

describe('Envoy ext_authz, as docs/verification.md configures it', () => {
  it('reads the prefix’s requirements and never the client’s path or query after path=', async () => {
    const prefix = '/v1/auth?access=FULL_ACCESS&scopes=refunds:write&cost=5&path=';
    const hostile = '/api/refunds?access=READ_ONLY&scopes=&cost=0&path=/x';
    const scoped = await envoy(prefix, 'GET', hostile, secrets.orders!);
    expect([scoped.status, scoped.code]).toEqual([403, 'INSUFFICIENT_SCOPE']);
    const readOnly = await envoy('/v1/auth?cost=1&path=', 'DELETE', '/api/orders?access=READ_ONLY', secrets.readOnly!);
    expect([readOnly.status, readOnly.code]).toEqual([403, 'INSUFFICIENT_ACCESS']);
    const paid = await envoy('/v1/auth?cost=3&path=', 'POST', '/api/orders?cost=0&x=1', secrets.ten!);
    expect([paid.status, paid.credits]).toEqual([200, '3']);
    expect((await envoy('/v1/auth?cost=1&path=', 'POST', '/api/x', secrets.empty!)).code).toBe('USAGE_EXCEEDED');
  });

  it('IP rules see the peer Envoy appended, not the addresses the client put before it', async () => {
    const answer = await envoy('/v1/auth?path=', 'GET', '/api/orders', secrets.office!, '10.1.2.3, 10.4.5.6');
    expect([answer.status, answer.code]).toEqual([403, 'IP_DENIED']);
  });

  it('a prefix without "?…path=" reaches no endpoint, so nothing passes', async () => {
    const answer = await send('GET', '/v1/auth/api/orders', { 'x-api-key': secrets.readOnly! });
    expect(answer.status).toBe(404);
  });
});

describe('the auth URL', () => {
  it('refuses what it cannot read, naming it, instead of guessing', async () => {
    const cases: [string, string][] = [
      ['access=EVERYTHING', 'BAD_REQUIREMENTS'],
      ['scope=orders:read', 'BAD_REQUIREMENTS'],
      ['cost=1&cost=0', 'BAD_REQUIREMENTS'],
      ['scopes=has%20space%2C%2C%24bad', 'BAD_REQUIREMENTS'],
      [`scopes=${'a,'.repeat(60)}`, 'BAD_REQUIREMENTS'],
      ['cost=-1', 'BAD_COST'],
      ['cost=1.5', 'BAD_COST'],
      ['cost=1000001', 'BAD_COST'],
      ['access=%E0%A4%A', 'BAD_REQUIREMENTS'],
    ];
    for (const [query, code] of cases) {
      const answer = await send('GET', `/v1/auth?${query}`, { 'x-api-key': secrets.readOnly! });
      expect([query, answer.status, answer.code, typeof answer.body?.message]).toEqual([query, 400, code, 'string']);
    }
    const plus = await send('GET', '/v1/auth?scopes=orders%3Aread+orders%3Awrite', { 'x-api-key': secrets.orders! });
    expect(plus.status).toBe(200);
  });

  it('anything else under /v1/ is a 404, never a success', async () => {
    for (const path of ['/v1/auth/', '/v1/Auth', '/v1/verify', '/V1/AUTH', '/v1', '/v1/auth/x?cost=1']) {
      const answer = await fetch(`${s.url}${path}`, { headers: { 'x-api-key': secrets.readOnly!, accept: '*/*' } });
      expect([path, answer.status]).toEqual([path, 404]);
    }
  });
});
