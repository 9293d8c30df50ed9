// Management API authentication: a verified JWT names the merchant; anything
// else is a clear 401 that reaches neither validation nor a resolver.

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthenticator, createLogger, MISSING_CREDENTIALS, REJECTED_CREDENTIALS } from '@keygate/server';
import { createApp } from '@keygate/server/graphql';
import { noKeyChanges } from '@keygate/services';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docSnippet, importSnippet } from '../support/doc-snippet.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { CREATE_APPLICATION } from '../support/operations.ts';

let h: Harness;
const logs: Record<string, unknown>[] = [];
beforeAll(async () => {
  const logger = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line)) });
  h = await createHarness({ issuer: 'https://auth.example.com', audience: 'keygate', logger });
});
afterAll(() => h.close());

const sign = (
  claims: Record<string, unknown>,
  setup: (jwt: SignJWT) => SignJWT = (jwt) => jwt,
  alg = 'HS256',
  key?: Uint8Array,
) =>
  setup(
    new SignJWT({ merchant_id: 'acme', ...claims })
      .setProtectedHeader({ alg })
      .setIssuedAt()
      .setIssuer('https://auth.example.com')
      .setAudience('keygate')
      .setExpirationTime('1h'),
  ).sign(key ?? h.secret);

describe('rejected credentials', () => {
  // Every way a presented credential can be wrong, with the reason the server's log gives.
  const cases: [string, () => Promise<string>, RegExp][] = [
    ['a non-Bearer scheme', async () => `Basic ${Buffer.from('a:b').toString('base64')}`, /Bearer/],
    ['a token that is not a JWT', async () => 'Bearer not-a-jwt', /malformed/],
    [
      'an expired token',
      async () => `Bearer ${await sign({}, (j) => j.setExpirationTime(Math.floor(Date.now() / 1000) - 60))}`,
      /expired/,
    ],
    ['a token not valid yet', async () => `Bearer ${await sign({}, (j) => j.setNotBefore('10m'))}`, /nbf/],
    [
      'a token signed with another secret',
      async () => `Bearer ${await sign({}, undefined, 'HS256', randomBytes(32))}`,
      /signature/,
    ],
    [
      'alg: none',
      async () =>
        `Bearer ${new UnsecuredJWT({ merchant_id: 'acme' }).setIssuer('https://auth.example.com').setAudience('keygate').setExpirationTime('1h').encode()}`,
      /algorithm/,
    ],
    ['another algorithm with the same secret', async () => `Bearer ${await sign({}, undefined, 'HS512')}`, /algorithm/],
    ['a wrong issuer', async () => `Bearer ${await sign({}, (j) => j.setIssuer('https://evil.example.com'))}`, /iss/],
    ['a wrong audience', async () => `Bearer ${await sign({}, (j) => j.setAudience('other'))}`, /aud/],
    [
      'no expiry',
      async () =>
        `Bearer ${await new SignJWT({ merchant_id: 'acme' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://auth.example.com').setAudience('keygate').sign(h.secret)}`,
      /exp/,
    ],
    ['no merchant claim', async () => `Bearer ${await sign({ merchant_id: undefined })}`, /merchant_id/],
    ['a merchant claim that is not a string', async () => `Bearer ${await sign({ merchant_id: 42 })}`, /merchant_id/],
    [
      'an oversized merchant claim',
      async () => `Bearer ${await sign({ merchant_id: 'm'.repeat(129) })}`,
      /merchant_id/,
    ],
    ['an unknown role', async () => `Bearer ${await sign({ keygate_role: 'admin' })}`, /keygate_role/],
  ];

  const bodies = new Map<string, string>();

  it.each(cases)(
    '%s → the one 401 UNAUTHENTICATED, before any validation or resolver',
    async (name, header, reason) => {
      const requestId = `auth-${bodies.size}`;
      const authorization = await header();
      const { result, statements } = await h.db.countStatements(() =>
        h.request(CREATE_APPLICATION, { input: { name: '' } }, { authorization, 'x-request-id': requestId }),
      );
      expect(result.status).toBe(401);
      expect(result.headers.get('www-authenticate')).toBe('Bearer');
      expect(result.headers.get('x-request-id')).toBe(requestId);
      expect(result.data ?? null).toBeNull();
      expect(result.errors).toEqual([{ message: REJECTED_CREDENTIALS, extensions: { code: 'UNAUTHENTICATED' } }]);
      expect(statements).toEqual([]);
      bodies.set(name, result.raw);
      // The response says nothing of why; the log does, under the response's request id.
      const refused = logs.filter((entry) => entry.requestId === requestId);
      expect(refused).toEqual([
        expect.objectContaining({ msg: 'credentials refused', reason: expect.stringMatching(reason) }),
      ]);
    },
  );

  it('answers every rejected credential with byte-identical bodies', () => {
    expect(bodies.size).toBe(cases.length);
    expect(new Set(bodies.values()).size).toBe(1);
  });

  it('tells a caller without credentials how to authenticate, with the same code', async () => {
    const { result, statements } = await h.db.countStatements(() =>
      h.request(CREATE_APPLICATION, { input: { name: '' } }),
    );
    expect(result.status).toBe(401);
    expect(result.errors).toEqual([{ message: MISSING_CREDENTIALS, extensions: { code: 'UNAUTHENTICATED' } }]);
    expect(result.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(statements).toEqual([]);
  });
});

describe('accepted credentials', () => {
  it('creates the merchant on first use and acts for it', async () => {
    const merchantId = `merchant-${randomBytes(4).toString('hex')}`;
    expect(await h.db.prisma.merchant.findUnique({ where: { id: merchantId } })).toBeNull();
    const token = await sign({ merchant_id: merchantId });
    const result = await h.request('{ viewer { id merchantId createdAt } }', {}, { authorization: `Bearer ${token}` });
    expect(result.status).toBe(200);
    expect(result.data.viewer.merchantId).toBe(merchantId);
    expect(await h.db.prisma.merchant.findUnique({ where: { id: merchantId } })).not.toBeNull();
    // Later requests do not write again.
    const { statements } = await h.db.countStatements(() =>
      h.request('{ viewer { merchantId } }', {}, { authorization: `Bearer ${token}` }),
    );
    expect(statements.filter((s) => /^INSERT/i.test(s))).toEqual([]);
  });

  it('lets anyone introspect the schema (GraphiQL loads it before a token is set)', async () => {
    const result = await h.request('{ __schema { queryType { name } } }');
    expect(result.status).toBe(200);
    expect(result.data.__schema.queryType.name).toBe('Query');
    const mixed = await h.request('{ __typename viewer { merchantId } }');
    expect(mixed.status).toBe(401);
  });
});

describe('tokens from an identity provider (JWKS)', () => {
  // A real JWKS endpoint on loopback, as an identity provider publishes one.
  let provider: Server;
  let app: ReturnType<typeof createApp>;
  let signingKey: CryptoKey;
  let publicPem: string;
  /** The docs' JWKS minting snippet signs with this key (ES256, kid "keygate-2026"). */
  let docsKeyPem: string;
  const jwksLogs: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    signingKey = pair.privateKey;
    publicPem = await exportSPKI(pair.publicKey);
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'current', alg: 'RS256', use: 'sig' };
    const docsPair = await generateKeyPair('ES256', { extractable: true });
    docsKeyPem = await exportPKCS8(docsPair.privateKey);
    const docsJwk = { ...(await exportJWK(docsPair.publicKey)), kid: 'keygate-2026', alg: 'ES256', use: 'sig' };
    provider = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk, docsJwk] }));
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    const { port } = provider.address() as AddressInfo;
    const logger = createLogger('info', { write: (line: string) => void jwksLogs.push(JSON.parse(line)) });
    app = createApp({
      keyChanges: noKeyChanges,
      prisma: h.db.prisma,
      logger,
      authenticate: createAuthenticator({
        key: { kind: 'jwks', url: new URL(`http://127.0.0.1:${port}/.well-known/jwks.json`) },
        issuer: 'https://auth.example.com',
        audience: 'keygate',
        merchantClaim: 'merchant_id',
      }),
      settings: { maxKeysPerApplication: 100, maxPageSize: 100 },
    });
  });
  afterAll(() => new Promise<void>((resolve) => provider.close(() => resolve())));

  const claims = (alg: string, kid = 'current') =>
    new SignJWT({ merchant_id: 'jwks-merchant' })
      .setProtectedHeader({ alg, kid })
      .setIssuer('https://auth.example.com')
      .setAudience('keygate')
      .setExpirationTime('1h');
  const ask = async (token: string) => {
    const response = await app.fetch('http://keygate/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ viewer { merchantId } }' }),
    });
    return { status: response.status, body: await response.text(), requestId: response.headers.get('x-request-id') };
  };

  it('accepts a token signed by a key the provider publishes', async () => {
    const answer = await ask(await claims('RS256').sign(signingKey));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).data.viewer.merchantId).toBe('jwks-merchant');
  });

  it("accepts the token the dashboard docs' JWKS snippet mints, as written", async () => {
    const source = docSnippet('dashboard.md', 'With `KEYGATE_JWKS_URL` instead', 'js');
    process.env.KEYGATE_SIGNING_KEY = docsKeyPem;
    const minting = await importSnippet<{ keygateToken: (merchantId: string, user: string) => Promise<string> }>(
      source.replaceAll('https://platform.example.com', 'https://auth.example.com'),
    ).finally(() => delete process.env.KEYGATE_SIGNING_KEY);
    const answer = await ask(await minting.keygateToken('jwks-merchant', 'dana@jwks-merchant.example.com'));
    expect([answer.status, JSON.parse(answer.body)]).toEqual([
      200,
      { data: { viewer: { merchantId: 'jwks-merchant' } } },
    ]);
    // Without the issuer the snippet sets, Keygate (KEYGATE_JWT_ISSUER set) refuses it.
    const withoutIssuer = await importSnippet<{ keygateToken: (merchantId: string, user: string) => Promise<string> }>(
      source
        .replace(/^ *\.setIssuer\(.*\n/m, '')
        .replace('process.env.KEYGATE_SIGNING_KEY', JSON.stringify(docsKeyPem)),
    );
    expect((await ask(await withoutIssuer.keygateToken('jwks-merchant', 'dana'))).status).toBe(401);
  });

  it.each([
    [
      'a key the provider does not publish',
      async () => claims('RS256').sign((await generateKeyPair('RS256')).privateKey),
    ],
    ['an unknown key id', async () => claims('RS256', 'retired').sign(signingKey)],
    // Algorithm confusion: HS256 with the public key as the HMAC secret.
    ['HS256 keyed with the public key', async () => claims('HS256').sign(new TextEncoder().encode(publicPem))],
    [
      'alg: none',
      async () =>
        new UnsecuredJWT({ merchant_id: 'jwks-merchant' })
          .setIssuer('https://auth.example.com')
          .setAudience('keygate')
          .setExpirationTime('1h')
          .encode(),
    ],
  ])('refuses %s with the one unauthenticated answer', async (_name, token) => {
    const answer = await ask(await token());
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body)).toEqual({
      errors: [{ message: REJECTED_CREDENTIALS, extensions: { code: 'UNAUTHENTICATED' } }],
    });
    expect(jwksLogs).toContainEqual(
      expect.objectContaining({ msg: 'credentials refused', requestId: answer.requestId, reason: expect.any(String) }),
    );
  });
});

describe('an identity provider that cannot be reached', () => {
  // Connection refused, or a key set URL that answers 500: the token may be fine, Keygate cannot tell.
  let broken: Server;
  let brokenUrl: URL;
  beforeAll(async () => {
    broken = createServer((_req, res) => {
      res.writeHead(500);
      res.end('upstream down');
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    brokenUrl = new URL(`http://127.0.0.1:${(broken.address() as AddressInfo).port}/jwks.json`);
  });
  afterAll(() => new Promise<void>((resolve) => broken.close(() => resolve())));

  it.each([
    ['refuses connections', () => new URL('http://127.0.0.1:1/jwks.json')],
    ['answers 500', () => brokenUrl],
  ])('when it %s: 503 SERVICE_UNAVAILABLE with Retry-After, not a refused token', async (_name, url) => {
    const logs: Record<string, unknown>[] = [];
    const app = createApp({
      keyChanges: noKeyChanges,
      prisma: h.db.prisma,
      logger: createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line)) }),
      authenticate: createAuthenticator({ key: { kind: 'jwks', url: url() }, merchantClaim: 'merchant_id' }),
      settings: { maxKeysPerApplication: 100, maxPageSize: 100 },
    });
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({ merchant_id: 'acme' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k' })
      .setExpirationTime('1h')
      .sign(privateKey);
    const response = await app.fetch('http://keygate/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ viewer { merchantId } }' }),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    const body = await response.json();
    expect(body.errors).toEqual([
      { message: expect.stringMatching(/identity provider/), extensions: { code: 'SERVICE_UNAVAILABLE' } },
    ]);
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 40,
        requestId: response.headers.get('x-request-id'),
        reason: expect.any(String),
      }),
    );
  });
});
