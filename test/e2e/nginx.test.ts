// A real nginx running the documented snippet (docs/verification.md) (only Keygate's address and the
// upstream's filled in) in front of a small upstream: Keygate decides who gets
// through, the upstream learns who the caller is, and every refusal reaches the
// client with Keygate's status and reason, a 429 included, never a 500.
// Clients connect from their own loopback addresses (127.0.0.x), as clients of
// a real gateway would from theirs.
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKey } from '@keygate/core';
import {
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  CreateIdentityDocument,
  type CreateKeyInput,
  RevokeKeyDocument as REVOKE_KEY,
  SetIpRulesDocument as SET_IP_RULES,
} from '@keygate/sdk/documents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentedNginxSnippet, type Nginx, startNginx } from '../support/nginx.ts';
import { ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let keygate: TestServer;
let nginx: Nginx;
let upstream: Server;
let keygateClosed = false;
let identityId = '';
const seen: IncomingHttpHeaders[] = [];
const secrets: Record<string, string> = {};
const ids: Record<string, string> = {};

beforeAll(async () => {
  // As docs/verification.md says: nginx's address is a trusted proxy. The failure limit is the default one.
  keygate = await startTestServer({ KEYGATE_TRUSTED_PROXIES: '127.0.0.1', KEYGATE_FAILED_VERIFICATIONS: '30' });
  upstream = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ merchant: req.headers['x-keygate-merchant-id'] }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  nginx = await startNginx(Number(new URL(keygate.url).port), (upstream.address() as AddressInfo).port, {
    '/api/refunds/': 'access=FULL_ACCESS&scopes=refunds:write&cost=5',
    // A permission expression, percent-encoded in nginx's configuration as docs/verification.md shows.
    '/api/reports/': 'permissions=reports:read%20OR%20(orders:read%20AND%20admin)%20OR%20orders:export',
  });

  const token = await keygate.merchantToken('acme');
  const app = ok((await keygate.graphql(token, CREATE_APP, { input: { name: 'API' } })).data.createApplication)
    .application.id;
  const identity = ok(
    (await keygate.graphql(token, CreateIdentityDocument, { input: { externalId: 'org 12/ø', name: 'Acme Corp' } }))
      .data.createIdentity,
  ).identity;
  identityId = identity.id;
  const kinds: Record<string, Partial<CreateKeyInput>> = {
    full: {
      access: 'FULL_ACCESS',
      scopes: ['orders:write'],
      metadata: { plan: 'pro', customer: 'c_42' },
      externalId: 'user 7/ü',
      identityId: identity.id,
    },
    readOnly: { access: 'READ_ONLY' },
    revoked: {},
    ipDenied: {},
    metered: { credits: { remaining: 100 }, rateLimits: [{ name: 'per-minute', limit: 2, windowSeconds: 60 }] },
    spent: { credits: { remaining: 1 } },
    empty: { credits: { remaining: 0 }, access: 'FULL_ACCESS' },
    refunds: { credits: { remaining: 10 }, access: 'FULL_ACCESS', scopes: ['refunds:write'] },
    ordersOnly: { access: 'FULL_ACCESS', scopes: ['orders:*'] },
    office: { access: 'FULL_ACCESS' },
    plain: { access: 'FULL_ACCESS' },
    // The largest metadata allowed: 4,096 bytes of JSON, 5,462 as base64url in X-Keygate-Metadata.
    largest: { metadata: { note: 'm'.repeat(4096 - '{"note":""}'.length) } },
  };
  for (const [name, input] of Object.entries(kinds)) {
    const created = (await keygate.graphql(token, CREATE_KEY, { input: { applicationId: app, name, ...input } })).data
      .createKey;
    secrets[name] = ok(created).secret;
    ids[name] = ok(created).key.id;
  }
  await keygate.graphql(token, REVOKE_KEY, { input: { id: ids.revoked! } });
  await keygate.graphql(token, SET_IP_RULES, {
    input: { keyId: ids.ipDenied!, rules: [{ cidr: '127.0.0.0/8', action: 'DENY' }] },
  });
  await keygate.graphql(token, SET_IP_RULES, {
    input: { keyId: ids.office!, rules: [{ cidr: '10.0.0.0/8', action: 'ALLOW' }], defaultAction: 'DENY' },
  });
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  upstream?.close();
  if (!keygateClosed) await keygate?.close();
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request through nginx from the client address `from` (127.0.0.x). */
function call(
  method: string,
  headers: Record<string, string>,
  from = '127.0.0.2',
  path = '/api/orders',
): Promise<Answer> {
  const { port } = new URL(nginx.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, localAddress: from, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const refusal = (answer: Answer) => [answer.status, answer.headers['x-keygate-code'], JSON.parse(answer.body).code];

it('runs the documented snippet, with its trusted-proxy note', () => {
  const snippet = documentedNginxSnippet();
  expect(snippet).toContain('KEYGATE_TRUSTED_PROXIES');
  expect(snippet).toContain('error_page 401 403 500 = @keygate_refused;');
});

// Headers a client may send to raise its own access, lower its cost or pose as someone else.
const HOSTILE = {
  'x-keygate-required-access': 'READ_ONLY',
  'x-keygate-required-scopes': '',
  'x-keygate-cost': '0',
  'x-original-method': 'GET',
  'x-forwarded-method': 'GET',
  'x-forwarded-for': '10.1.2.3',
  'x-real-ip': '10.1.2.3',
  forwarded: 'for=10.1.2.3;proto=https',
};

describe('a client sending any header through the gateway gains nothing', () => {
  it('a read-only key stays read-only, whatever method headers or requirement headers it sends', async () => {
    for (const method of ['POST', 'DELETE']) {
      const answer = await call(method, { ...HOSTILE, 'x-api-key': secrets.readOnly! }, '127.0.0.20');
      expect(refusal(answer), method).toEqual([403, 'INSUFFICIENT_ACCESS', 'INSUFFICIENT_ACCESS']);
    }
    expect((await call('GET', { ...HOSTILE, 'x-api-key': secrets.readOnly! }, '127.0.0.20')).status).toBe(200);
  });

  it('a key without credits stays refused, and each request spends what the route costs', async () => {
    for (let i = 0; i < 3; i++) {
      const answer = await call('POST', { ...HOSTILE, 'x-api-key': secrets.empty! }, '127.0.0.21');
      expect(refusal(answer)).toEqual([429, 'USAGE_EXCEEDED', 'USAGE_EXCEEDED']);
    }
    // The refunds route costs 5 and needs refunds:write, from nginx's configuration alone.
    const first = await call('POST', { ...HOSTILE, 'x-api-key': secrets.refunds! }, '127.0.0.21', '/api/refunds/1');
    expect([first.status, first.headers['x-keygate-credits-remaining']]).toEqual([200, '5']);
    const second = await call('POST', { ...HOSTILE, 'x-api-key': secrets.refunds! }, '127.0.0.21', '/api/refunds/2');
    expect([second.status, second.headers['x-keygate-credits-remaining']]).toEqual([200, '0']);
    const third = await call('POST', { ...HOSTILE, 'x-api-key': secrets.refunds! }, '127.0.0.21', '/api/refunds/3');
    expect(refusal(third)).toEqual([429, 'USAGE_EXCEEDED', 'USAGE_EXCEEDED']);
    // A key scoped to orders stays out of refunds, whatever scopes header it sends.
    const scoped = await call(
      'POST',
      { ...HOSTILE, 'x-keygate-required-scopes': 'orders:read', 'x-api-key': secrets.ordersOnly! },
      '127.0.0.21',
      '/api/refunds/4',
    );
    expect(refusal(scoped)).toEqual([403, 'INSUFFICIENT_SCOPE', 'INSUFFICIENT_SCOPE']);
  });

  it("a route's permission expression comes from nginx's configuration, never from the client", async () => {
    const allowed = await call('GET', { ...HOSTILE, 'x-api-key': secrets.ordersOnly! }, '127.0.0.24', '/api/reports/7');
    expect(allowed.status).toBe(200);
    // refunds:write satisfies none of it, whatever the client adds to its headers or its own query.
    const refused = await call(
      'GET',
      { ...HOSTILE, 'x-keygate-required-permissions': 'refunds:write', 'x-api-key': secrets.refunds! },
      '127.0.0.24',
      '/api/reports/7?permissions=refunds:write',
    );
    expect(refusal(refused)).toEqual([403, 'INSUFFICIENT_SCOPE', 'INSUFFICIENT_SCOPE']);
  });

  it('a client cannot choose the address IP rules and the guess limiter see', async () => {
    const denied = await call('GET', { ...HOSTILE, 'x-api-key': secrets.office! }, '127.0.0.22');
    expect(refusal(denied)).toEqual([403, 'IP_DENIED', 'IP_DENIED']);
    // A guesser changing its claimed address each time is still one guesser.
    const guesser = '127.0.0.23';
    for (let i = 0; i < 30; i++) {
      const spoofed = { 'x-forwarded-for': `10.9.${i}.1`, 'x-real-ip': `10.8.${i}.1`, forwarded: `for=10.7.${i}.1` };
      const answer = await call('GET', { ...spoofed, 'x-api-key': generateKey('live').secret }, guesser);
      expect(answer.status).toBe(401);
    }
    const limited = await call('GET', { 'x-forwarded-for': '10.200.0.1', 'x-api-key': secrets.plain! }, guesser);
    expect(refusal(limited)).toEqual([429, 'TOO_MANY_FAILURES', 'TOO_MANY_FAILURES']);
  });

  it('the API behind the gateway sees Keygate’s identity headers, never the client’s', async () => {
    const before = seen.length;
    const posing = {
      'x-keygate-key-id': 'ApiKey:someone-else',
      'x-keygate-merchant-id': 'victim',
      'x-keygate-application-id': 'Application:theirs',
      'x-keygate-scopes': '*',
      'x-keygate-access': 'FULL_ACCESS',
      'x-keygate-metadata': Buffer.from('{"plan":"enterprise"}').toString('base64url'),
      'x-keygate-external-id': 'admin',
      'x-keygate-identity-id': 'Identity:theirs',
      'x-keygate-identity-external-id': 'their-org',
    };
    const answer = await call('GET', { ...posing, 'x-api-key': secrets.readOnly! }, '127.0.0.24');
    expect(answer.status).toBe(200);
    expect(seen.length).toBe(before + 1);
    const upstream = seen.at(-1)!;
    expect(upstream['x-keygate-key-id']).toBe(ids.readOnly);
    expect(upstream['x-keygate-merchant-id']).toBe('acme');
    expect(upstream['x-keygate-access']).toBe('READ_ONLY');
    // The key has no scopes, metadata, owner id or identity: the client's claims are gone, not passed on.
    expect([
      upstream['x-keygate-scopes'],
      upstream['x-keygate-metadata'],
      upstream['x-keygate-external-id'],
      upstream['x-keygate-identity-id'],
      upstream['x-keygate-identity-external-id'],
    ]).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(upstream['x-keygate-application-id']).not.toBe('Application:theirs');
  });

  it('passes the largest metadata a key may carry', async () => {
    const answer = await call('GET', { 'x-api-key': secrets.largest! }, '127.0.0.25');
    expect(answer.status).toBe(200);
    const metadata = String(seen.at(-1)?.['x-keygate-metadata']);
    expect(metadata.length).toBe(5462);
    expect(JSON.parse(Buffer.from(metadata, 'base64url').toString())).toEqual({ note: 'm'.repeat(4085) });
  });
});

it('lets a valid key through to the upstream with identity headers, and not the key itself', async () => {
  const before = seen.length;
  const response = await call('POST', { authorization: `Bearer ${secrets.full}` });
  expect(response.status).toBe(200);
  expect(JSON.parse(response.body)).toEqual({ merchant: 'acme' });
  expect(seen.length).toBe(before + 1);
  expect(seen.at(-1)).toMatchObject({ 'x-keygate-key-id': ids.full, 'x-keygate-merchant-id': 'acme' });
  // The key's metadata and owner id reach the API behind the gateway: no second lookup needed.
  const metadata = String(seen.at(-1)?.['x-keygate-metadata']);
  expect(JSON.parse(Buffer.from(metadata, 'base64url').toString())).toEqual({ plan: 'pro', customer: 'c_42' });
  expect(decodeURIComponent(String(seen.at(-1)?.['x-keygate-external-id']))).toBe('user 7/ü');
  // So does its identity: whose key it is, as the merchant names them.
  expect(seen.at(-1)?.['x-keygate-identity-id']).toBe(identityId);
  expect(decodeURIComponent(String(seen.at(-1)?.['x-keygate-identity-external-id']))).toBe('org 12/ø');
  expect(seen.at(-1)?.authorization).toBeUndefined();
  expect(seen.at(-1)?.['x-api-key']).toBeUndefined();
});

it('answers each refusal with Keygate’s status and reason code', async () => {
  const before = seen.length;
  const cases: [string, Record<string, string>, number, string][] = [
    ['GET', { 'x-api-key': 'kg_live_typo' }, 401, 'MALFORMED'],
    ['GET', {}, 401, 'MISSING_KEY'],
    ['GET', { authorization: `ApiKey ${secrets.revoked}` }, 401, 'REVOKED'],
    ['GET', { 'x-api-key': secrets.ipDenied! }, 403, 'IP_DENIED'],
    ['DELETE', { 'x-api-key': secrets.readOnly! }, 403, 'INSUFFICIENT_ACCESS'],
  ];
  for (const [method, headers, status, code] of cases) {
    expect(refusal(await call(method, headers, '127.0.0.3')), JSON.stringify([method, headers])).toEqual([
      status,
      code,
      code,
    ]);
  }
  expect(seen.length).toBe(before);
  expect((await call('GET', { 'x-api-key': secrets.readOnly! })).status).toBe(200);
});

it('limits a guessing client with 429 and Retry-After, and only that client', async () => {
  const guesser = '127.0.0.4';
  for (let i = 0; i < 30; i++) {
    expect(refusal(await call('GET', { 'x-api-key': generateKey('live').secret }, guesser))).toEqual([
      401,
      'NOT_FOUND',
      'NOT_FOUND',
    ]);
  }
  const limited = await call('GET', { 'x-api-key': generateKey('live').secret }, guesser);
  expect(refusal(limited)).toEqual([429, 'TOO_MANY_FAILURES', 'TOO_MANY_FAILURES']);
  expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  // While limited, its valid key is refused too (guessing learns nothing)...
  expect((await call('GET', { 'x-api-key': secrets.full! }, guesser)).status).toBe(429);
  // ...but another client behind the same nginx is not affected.
  expect((await call('GET', { 'x-api-key': secrets.full! }, '127.0.0.5')).status).toBe(200);
  // nginx logs the 429 as an "unexpected status" (it is: auth_request has no other way); the client got it right.
  expect(nginx.errors()).toContain('auth request unexpected status: 429');
});

it('passes a metered key’s rate limits and credits to the client, and its 429s with Retry-After', async () => {
  const before = seen.length;
  const first = await call('GET', { 'x-api-key': secrets.metered! }, '127.0.0.6');
  expect(first.status).toBe(200);
  expect(first.headers['ratelimit-policy']).toBe('"per-minute";q=2;w=60');
  expect(first.headers.ratelimit).toMatch(/^"per-minute";r=1;t=\d+$/);
  expect(first.headers['x-keygate-credits-remaining']).toBe('99');
  expect((await call('GET', { 'x-api-key': secrets.metered! }, '127.0.0.6')).status).toBe(200);
  const limited = await call('GET', { 'x-api-key': secrets.metered! }, '127.0.0.6');
  expect(refusal(limited)).toEqual([429, 'RATE_LIMITED', 'RATE_LIMITED']);
  expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(limited.headers['x-keygate-rate-limit']).toBe('per-minute');
  expect(limited.headers.ratelimit).toMatch(/^"per-minute";r=0;t=\d+$/);
  expect(limited.headers['x-keygate-credits-remaining']).toBe('98');
  // Credits used up: 429 USAGE_EXCEEDED, with no Retry-After (no refill to wait for).
  expect((await call('GET', { 'x-api-key': secrets.spent! }, '127.0.0.6')).status).toBe(200);
  const exceeded = await call('GET', { 'x-api-key': secrets.spent! }, '127.0.0.6');
  expect(refusal(exceeded)).toEqual([429, 'USAGE_EXCEEDED', 'USAGE_EXCEEDED']);
  expect(exceeded.headers['retry-after']).toBeUndefined();
  expect(exceeded.headers['x-keygate-credits-remaining']).toBe('0');
  // Unmetered keys: no metering fields at all.
  const plain = await call('GET', { 'x-api-key': secrets.readOnly! }, '127.0.0.6');
  expect([plain.headers.ratelimit, plain.headers['x-keygate-credits-remaining']]).toEqual([undefined, undefined]);
  expect(seen.length).toBe(before + 4);
});

it('stops a key at the gateway as soon as it is revoked', async () => {
  expect((await call('GET', { 'x-api-key': secrets.full! })).status).toBe(200);
  const token = await keygate.merchantToken('acme');
  await keygate.graphql(token, REVOKE_KEY, { input: { id: ids.full! } });
  expect(refusal(await call('GET', { 'x-api-key': secrets.full! }))).toEqual([401, 'REVOKED', 'REVOKED']);
});

it('answers 503, not 500, while Keygate cannot be reached', async () => {
  await keygate.close();
  keygateClosed = true;
  const answer = await call('GET', { 'x-api-key': secrets.readOnly! });
  expect([answer.status, JSON.parse(answer.body).code]).toEqual([503, 'UNAVAILABLE']);
});
