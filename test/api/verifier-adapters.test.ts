// The verifier's adapters, each in its real framework on a real port: Express, Fastify, and Hono
// on @hono/node-server. Every answer a route can give, refusal by refusal, as /v1/auth gives it
// (status, X-Keygate-Code, Retry-After, RateLimit fields), and the key's identity in the handler.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { generateKey } from '@keygate/core';
import { createKeygateClient } from '@keygate/sdk';
import { createVerifier, KeygateRequirementsError, type KeygateVerifier } from '@keygate/verifier';
import { keygate as expressKeygate } from '@keygate/verifier/express';
import { keygate as fastifyKeygate } from '@keygate/verifier/fastify';
import { keygate as honoKeygate, type KeygateEnv } from '@keygate/verifier/hono';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server-harness.ts';
import { waitFor } from '../support/wait.ts';

// What docs/verification.md tells Fastify users to declare once.
declare module 'fastify' {
  interface FastifyRequest {
    keygate?: import('@keygate/verifier').KeyVerification;
  }
}

let s: TestServer;
let sdk: ReturnType<typeof createKeygateClient>;
let token: string;
const secrets: Record<string, string> = {};
const ids: Record<string, string> = {};
const closers: (() => Promise<unknown>)[] = [];

async function create(name: string, input: Record<string, unknown> = {}, applicationId?: string) {
  const made = await sdk.keys.create({ applicationId: applicationId ?? appId, name, ...input } as never);
  if (!made.ok) throw new Error(JSON.stringify(made.error));
  secrets[name] = made.value.secret;
  ids[made.value.secret] = made.value.key.id;
  return made.value.key.id;
}
let appId: string;

beforeAll(async () => {
  s = await startTestServer({ KEYGATE_VERIFIER_HEARTBEAT_MS: '200' });
  token = await s.verifierToken();
  sdk = createKeygateClient({ url: `${s.url}/graphql`, token: await s.merchantToken('acme') });
  const app = await sdk.applications.create({ name: 'Adapters' });
  const off = await sdk.applications.create({ name: 'Adapters, disabled' });
  if (!app.ok || !off.ok) throw new Error('setup');
  appId = app.value.id;
  await create('valid', { access: 'FULL_ACCESS', scopes: ['orders:*'], metadata: { tier: 'pro' } });
  await create('readOnly', { access: 'READ_ONLY' });
  await create('otherScope', { access: 'FULL_ACCESS', scopes: ['refunds:*'] });
  await sdk.keys.setEnabled(await create('disabled'), false);
  await sdk.keys.revoke(await create('revoked'));
  const expiresAt = new Date(Date.now() + 1500).toISOString();
  await create('expired', { expiresAt });
  await create('appDisabled', {}, off.value.id);
  await sdk.applications.setEnabled(off.value.id, false);
  const office = await create('office');
  await sdk.keys.setIpRules({ keyId: office, rules: [{ cidr: '10.0.0.0/8', action: 'ALLOW' }], defaultAction: 'DENY' });
  await create('empty', { credits: { remaining: 0 } });
  await create('metered-node', { credits: { remaining: 1000 } });
  for (const framework of ['express', 'fastify', 'hono']) {
    await create(`limited-${framework}`, { rateLimits: [{ name: 'per-minute', limit: 1, windowSeconds: 60 }] });
    await create(`metered-${framework}`, {
      credits: { remaining: 100 },
      rateLimits: [{ name: 'per-minute', limit: 100, windowSeconds: 60 }],
    });
  }
  await waitFor(() => Date.now() > Date.parse(expiresAt));
}, 60_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await s?.close();
});

interface Case {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  status: number;
  code: string;
}

function cases(framework: string): Case[] {
  const bearer = (name: string) => ({ authorization: `Bearer ${secrets[name]}` });
  const c = (
    name: string,
    status: number,
    code: string,
    headers: Record<string, string>,
    method: 'GET' | 'POST' = 'GET',
    path = '/orders',
  ) => ({
    name,
    method,
    path,
    headers: { 'x-forwarded-for': '198.51.100.10', ...headers },
    status,
    code,
  });
  return [
    c('no key', 401, 'MISSING_KEY', {}),
    c('not a key', 401, 'MALFORMED', { authorization: 'Bearer hello' }),
    c('a well-formed key that does not exist', 401, 'NOT_FOUND', { 'x-api-key': generateKey('live').secret }),
    c('revoked', 401, 'REVOKED', bearer('revoked')),
    c('disabled', 401, 'KEY_DISABLED', bearer('disabled')),
    c('expired', 401, 'EXPIRED', bearer('expired')),
    c('application disabled', 401, 'APPLICATION_DISABLED', bearer('appDisabled')),
    c('outside its IP rules', 403, 'IP_DENIED', bearer('office')),
    c('inside its IP rules', 200, 'VALID', { ...bearer('office'), 'x-forwarded-for': '10.9.8.7' }),
    c('read-only key writing', 403, 'INSUFFICIENT_ACCESS', bearer('readOnly'), 'POST'),
    c('read-only key reading', 200, 'VALID', { authorization: `ApiKey ${secrets.readOnly}` }),
    c('another scope', 403, 'INSUFFICIENT_SCOPE', bearer('otherScope'), 'POST'),
    c('no credits', 429, 'USAGE_EXCEEDED', bearer('empty')),
    c('rate limit, first', 200, 'VALID', bearer(`limited-${framework}`)),
    c('rate limit, second', 429, 'RATE_LIMITED', bearer(`limited-${framework}`)),
    c('valid, writing with its scope', 200, 'VALID', bearer('valid'), 'POST'),
    c('Keygate unreachable', 503, 'UNAVAILABLE', bearer('valid'), 'GET', '/down'),
    // Three wrong guesses from one address (the verifiers here allow three): then even a good key waits.
    c('guess 1', 401, 'MALFORMED', { authorization: 'Bearer x', 'x-forwarded-for': '198.51.100.99' }),
    c('guess 2', 401, 'MALFORMED', { authorization: 'Bearer x', 'x-forwarded-for': '198.51.100.99' }),
    c('guess 3', 401, 'MALFORMED', { authorization: 'Bearer x', 'x-forwarded-for': '198.51.100.99' }),
    c('after three guesses', 429, 'TOO_MANY_FAILURES', { ...bearer('valid'), 'x-forwarded-for': '198.51.100.99' }),
  ];
}

async function verifiers(): Promise<{ live: KeygateVerifier; dead: KeygateVerifier }> {
  const live = createVerifier({ url: s.url, token, failedVerifications: 3 });
  const dead = createVerifier({ url: 'http://127.0.0.1:9', token, timeoutMs: 300, onError: () => {} });
  closers.push(
    () => live.close(),
    () => dead.close(),
  );
  await live.ready();
  return { live, dead };
}

/** A route's permission expression: the valid key (orders:*) satisfies it, refunds:* does not. */
const PERMISSIONS = 'reports:read OR (orders:read AND admin) OR orders:export';

async function expressApp(): Promise<string> {
  const { live, dead } = await verifiers();
  const app = express();
  app.set('trust proxy', true);
  app.get('/orders', expressKeygate(live), (req, res) => void res.json({ identity: req.keygate }));
  app.post(
    '/orders',
    expressKeygate(live, { scopes: ['orders:write'] }),
    (req, res) => void res.json({ identity: req.keygate }),
  );
  app.get(
    '/reports',
    expressKeygate(live, { permissions: PERMISSIONS }),
    (req, res) => void res.json({ identity: req.keygate }),
  );
  app.get('/down', expressKeygate(dead), (_req, res) => void res.json({}));
  app.get(
    '/quiet',
    expressKeygate(live, { meteringHeaders: 'refusals' }),
    (req, res) => void res.json({ identity: req.keygate }),
  );
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function fastifyApp(): Promise<string> {
  const { live, dead } = await verifiers();
  const app = Fastify({ trustProxy: true });
  app.decorateRequest('keygate', undefined);
  app.get('/orders', { preHandler: fastifyKeygate(live) }, async (request) => ({ identity: request.keygate }));
  app.post('/orders', { preHandler: fastifyKeygate(live, { scopes: ['orders:write'] }) }, async (request) => ({
    identity: request.keygate,
  }));
  app.get('/reports', { preHandler: fastifyKeygate(live, { permissions: PERMISSIONS }) }, async (request) => ({
    identity: request.keygate,
  }));
  app.get('/down', { preHandler: fastifyKeygate(dead) }, async () => ({}));
  app.get('/quiet', { preHandler: fastifyKeygate(live, { meteringHeaders: 'refusals' }) }, async (request) => ({
    identity: request.keygate,
  }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => app.close());
  return url;
}

async function honoApp(): Promise<string> {
  const { live, dead } = await verifiers();
  const app = new Hono<KeygateEnv>();
  // Behind a proxy of its own: the client address is the first of X-Forwarded-For.
  const ip = (c: { req: { header(name: string): string | undefined } }) =>
    c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
  app.get('/orders', honoKeygate(live, { ip }), (c) => c.json({ identity: c.get('keygate') }));
  app.post('/orders', honoKeygate(live, { ip, scopes: ['orders:write'] }), (c) =>
    c.json({ identity: c.get('keygate') }),
  );
  app.get('/reports', honoKeygate(live, { ip, permissions: PERMISSIONS }), (c) =>
    c.json({ identity: c.get('keygate') }),
  );
  app.get('/down', honoKeygate(dead, { ip }), (c) => c.json({}));
  app.get('/quiet', honoKeygate(live, { ip, meteringHeaders: 'refusals' }), (c) =>
    c.json({ identity: c.get('keygate') }),
  );
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
  });
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

it("takes the socket's address, not a client's X-Forwarded-For, where Express trusts no proxy", async () => {
  const { live } = await verifiers();
  const app = express(); // "trust proxy" off: Express's default
  app.get('/orders', expressKeygate(live), (req, res) => void res.json({ identity: req.keygate }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The office key allows 10.0.0.0/8 only; the client is 127.0.0.1 whatever it claims.
  const spoofed = await fetch(`${base}/orders`, {
    headers: { authorization: `Bearer ${secrets.office}`, 'x-forwarded-for': '10.9.8.7' },
  });
  expect(spoofed.status).toBe(403);
  expect(spoofed.headers.get('x-keygate-code')).toBe('IP_DENIED');
  // Once Express is told to trust the proxy in front of it, the forwarded address counts.
  app.set('trust proxy', 'loopback');
  const forwarded = await fetch(`${base}/orders`, {
    headers: { authorization: `Bearer ${secrets.office}`, 'x-forwarded-for': '10.9.8.7' },
  });
  expect(forwarded.status).toBe(200);
});

describe.each([
  ['Express', 'express', expressApp],
  ['Fastify', 'fastify', fastifyApp],
  ['Hono', 'hono', honoApp],
] as const)('%s', (_label, framework, start) => {
  it('answers every refusal as /v1/auth does, and hands the key to the route when valid', async () => {
    const base = await start();
    for (const c of cases(framework)) {
      const answer = await fetch(`${base}${c.path}`, { method: c.method, headers: c.headers });
      const body = (await answer.json()) as { identity?: { keyId: string; code: string }; code?: string };
      expect(answer.status, c.name).toBe(c.status);
      if (c.status === 200) {
        expect(body.identity?.code, c.name).toBe('VALID');
        // The key's own global id, as the GraphQL API names it.
        const presented = (c.headers.authorization ?? '').split(' ')[1] ?? '';
        expect(body.identity?.keyId, c.name).toBe(ids[presented]);
        continue;
      }
      expect(answer.headers.get('x-keygate-code'), c.name).toBe(c.code);
      expect(body, c.name).toEqual({ valid: false, code: c.code });
      if (c.status === 401) expect(answer.headers.get('www-authenticate'), c.name).toBe('ApiKey');
      if (['RATE_LIMITED', 'TOO_MANY_FAILURES', 'UNAVAILABLE'].includes(c.code)) {
        expect(Number(answer.headers.get('retry-after')), c.name).toBeGreaterThan(0);
      }
      if (c.code === 'RATE_LIMITED') {
        expect(answer.headers.get('ratelimit-policy')).toBe('"per-minute";q=1;w=60');
        expect(answer.headers.get('ratelimit')).toMatch(/^"per-minute";r=0;t=\d+$/);
        expect(answer.headers.get('x-keygate-rate-limit')).toBe('per-minute');
      }
    }
  });

  it('checks the permission expression a route declares', async () => {
    const base = await start();
    const allowed = await fetch(`${base}/reports`, { headers: { authorization: `Bearer ${secrets.valid}` } });
    expect(allowed.status).toBe(200);
    expect(((await allowed.json()) as { identity: { keyId: string } }).identity.keyId).toBe(ids[secrets.valid!]);
    const refused = await fetch(`${base}/reports`, {
      // A client's own requirement header changes nothing.
      headers: { authorization: `Bearer ${secrets.otherScope}`, 'x-keygate-required-permissions': 'refunds:read' },
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('x-keygate-code')).toBe('INSUFFICIENT_SCOPE');
    expect(await refused.json()).toEqual({ valid: false, code: 'INSUFFICIENT_SCOPE' });
  });

  it("shows a metered key's state on allowed answers unless told to keep it for refusals", async () => {
    const base = await start();
    const key = { authorization: `Bearer ${secrets[`metered-${framework}`]}` };
    const shown = await fetch(`${base}/orders`, { headers: key });
    expect(shown.status).toBe(200);
    expect(shown.headers.get('x-keygate-credits-remaining')).toBe('99');
    expect(shown.headers.get('ratelimit-policy')).toBe('"per-minute";q=100;w=60');
    expect(shown.headers.get('ratelimit')).toMatch(/^"per-minute";r=99;t=\d+$/);
    const quiet = await fetch(`${base}/quiet`, { headers: key });
    expect(quiet.status).toBe(200);
    expect(((await quiet.json()) as { identity: { creditsRemaining: number } }).identity.creditsRemaining).toBe(98);
    for (const name of ['x-keygate-credits-remaining', 'ratelimit-policy', 'ratelimit']) {
      expect(quiet.headers.get(name), name).toBeNull();
    }
    // A refusal on the quiet route still says why, and what is left.
    const refused = await fetch(`${base}/quiet`, { headers: { authorization: `Bearer ${secrets.empty}` } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-keygate-code')).toBe('USAGE_EXCEEDED');
    expect(refused.headers.get('x-keygate-credits-remaining')).toBe('0');
  });
});

it("adds a metered key's fields however a node:http route writes its answer, the route's own fields winning", async () => {
  const { live } = await verifiers();
  const check = expressKeygate(live);
  // Each way node:http lets a route start its answer; the fields are added as it starts.
  const routes: Record<string, (res: import('node:http').ServerResponse) => void> = {
    '/object': (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'),
    '/reason': (res) => res.writeHead(200, 'Fine', { 'content-type': 'text/plain' }).end('ok'),
    '/flat': (res) => res.writeHead(200, ['content-type', 'text/plain', 'x-route', 'a']).end('ok'),
    '/pairs': (res) =>
      res
        .writeHead(200, [
          ['content-type', 'text/plain'],
          ['x-route', 'b'],
        ])
        .end('ok'),
    '/implicit': (res) => res.end('ok'),
    '/set-own': (res) => {
      res.setHeader('X-Keygate-Credits-Remaining', 'hidden');
      res.end('ok');
    },
    '/write-own': (res) => res.writeHead(200, { 'RateLimit-Policy': 'route policy' }).end('ok'),
    '/twice': (res) => {
      res.writeHead(200).end('ok');
      try {
        res.writeHead(500);
      } catch (error) {
        twice = (error as { code?: string }).code;
      }
    },
  };
  let twice: string | undefined;
  const server = http.createServer((req, res) => check(req, res, () => routes[req.url ?? '']!(res)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const headers = { 'x-api-key': secrets['metered-node']! };
  let credits = 1000;
  for (const path of Object.keys(routes)) {
    const answer = await fetch(`${base}${path}`, { headers });
    credits--;
    expect(answer.status, path).toBe(200);
    expect(await answer.text(), path).toBe('ok');
    expect(answer.headers.get('x-keygate-credits-remaining'), path).toBe(
      path === '/set-own' ? 'hidden' : String(credits),
    );
    if (path === '/reason') expect(answer.statusText).toBe('Fine');
    if (path === '/flat') expect(answer.headers.get('x-route')).toBe('a');
    if (path === '/pairs') expect(answer.headers.get('x-route')).toBe('b');
    if (path === '/write-own') expect(answer.headers.get('ratelimit-policy')).toBe('route policy');
  }
  // A second writeHead fails as node:http fails it, without the adapter in the way.
  expect(twice).toBe('ERR_HTTP_HEADERS_SENT');
});

it('refuses an adapter option it does not know the value of, when the middleware is made', () => {
  const verifier = createVerifier({ url: 'http://127.0.0.1:9', token: 'x.y.z', onError: () => {} });
  closers.push(() => verifier.close());
  for (const make of [expressKeygate, fastifyKeygate, honoKeygate]) {
    expect(() => make(verifier, { meteringHeaders: 'never' as 'always' })).toThrow(
      /meteringHeaders must be 'always' or 'refusals', not "never"/,
    );
    // A malformed permission expression fails when the route is set up, naming where.
    let thrown: unknown;
    try {
      make(verifier, { permissions: 'orders:read AND (refunds:write OR' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(KeygateRequirementsError);
    expect(thrown).toMatchObject({ code: 'BAD_REQUIREMENTS', position: 33 });
    expect((thrown as Error).message).toMatch(
      /permissions: expected a scope or \( after OR, found the end \(at character 34\)/,
    );
  }
  // And so does one passed to verify() directly.
  expect(() => verifier.verify({ key: 'kg_live_x', requiredPermissions: 'a OR OR b' })).toThrow(
    KeygateRequirementsError,
  );
});
