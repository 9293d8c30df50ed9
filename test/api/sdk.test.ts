// The SDK against a real server over HTTP: every method, typed errors, auth
// and network failures, and walking connections with async iterators.
import { generateKey } from '@keygate/core';
import { createKeygateClient, KeygateRequestError } from '@keygate/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/postgres-cluster.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let s: TestServer;
let client: ReturnType<typeof createKeygateClient>;
let service: ReturnType<typeof createKeygateClient>;
const unique = () => `app ${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  s = await startTestServer({ KEYGATE_MAX_KEYS_PER_APPLICATION: '3' });
  client = createKeygateClient({ url: `${s.url}/graphql`, token: await s.merchantToken('acme') });
  const serviceToken = await s.verifierToken();
  service = createKeygateClient({ url: `${s.url}/graphql`, getToken: async () => serviceToken });
});
afterAll(() => s.close());

describe('applications', () => {
  it('create, get, update, setEnabled, with typed errors', async () => {
    const name = unique();
    const created = await client.applications.create({ name, description: 'first' });
    if (!created.ok) throw new Error(created.error.message);
    expect(created.value).toMatchObject({ name, description: 'first', enabled: true, keyLimit: 3 });
    expect(await client.applications.get(created.value.id)).toEqual(created.value);
    expect(await client.applications.get('nope')).toBeNull();

    const conflict = await client.applications.create({ name: name.toUpperCase() });
    expect(conflict).toMatchObject({ ok: false, error: { __typename: 'NameConflictError', code: 'NAME_CONFLICT' } });
    const invalid = await client.applications.create({ name: '' });
    expect(invalid).toMatchObject({
      ok: false,
      error: { __typename: 'ValidationError', issues: [{ path: ['input', 'name'] }] },
    });

    const updated = await client.applications.update({ id: created.value.id, description: null });
    expect(updated).toMatchObject({ ok: true, value: { description: null } });
    const missing = await client.applications.update({ id: 'nope', name: 'x' });
    expect(missing).toMatchObject({ ok: false, error: { __typename: 'NotFoundError', code: 'NOT_FOUND', id: 'nope' } });

    const disabled = await client.applications.setEnabled(created.value.id, false);
    expect(disabled).toMatchObject({ ok: true, value: { enabled: false } });
    expect(await client.applications.setEnabled('nope', true)).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
  });

  it('list pages, and all() walks every application once', async () => {
    const fresh = createKeygateClient({
      url: `${s.url}/graphql`,
      token: await s.merchantToken(`walker-${Date.now()}`),
    });
    const names = [];
    for (let i = 0; i < 7; i++) {
      const r = await fresh.applications.create({ name: `walk ${i}` });
      if (r.ok) names.push(r.value.name);
    }
    const page = await fresh.applications.list({ first: 3 });
    expect(page.totalCount).toBe(7);
    expect(page.pageInfo.hasNextPage).toBe(true);
    const walked = [];
    for await (const app of fresh.applications.all({ pageSize: 2 })) walked.push(app.name);
    expect(walked).toEqual([...names].reverse());
    const filtered = [];
    for await (const app of fresh.applications.all({ search: 'walk 1' })) filtered.push(app.name);
    expect(filtered).toEqual(['walk 1']);
  });
});

describe('keys', () => {
  it('create (secret once), get, list, edit, setIpRules, revoke, verify, with typed errors', async () => {
    const app = await client.applications.create({ name: unique() });
    if (!app.ok) throw new Error('setup');
    const created = await client.keys.create({
      applicationId: app.value.id,
      name: 'backend',
      access: 'FULL_ACCESS',
      scopes: ['orders:*'],
    });
    if (!created.ok) throw new Error(created.error.message);
    const { key, secret } = created.value;
    expect(secret.startsWith(key.prefix)).toBe(true);
    expect(await client.keys.get(key.id)).toEqual(key);

    const edited = await client.keys.edit({ id: key.id, name: 'renamed', websiteUrl: 'https://shop.example' });
    expect(edited).toMatchObject({ ok: true, value: { name: 'renamed', websiteUrl: 'https://shop.example' } });
    const badUrl = await client.keys.edit({ id: key.id, websiteUrl: 'ftp://x' });
    expect(badUrl).toMatchObject({
      ok: false,
      error: { __typename: 'ValidationError', issues: [{ path: ['input', 'websiteUrl'] }] },
    });

    const rules = await client.keys.setIpRules({
      keyId: key.id,
      rules: [{ cidr: '10.0.0.0/8', action: 'DENY' }],
      defaultAction: 'ALLOW',
    });
    expect(rules).toMatchObject({ ok: true, value: { ipRules: [{ cidr: '10.0.0.0/8', action: 'DENY' }] } });

    const ok = await service.keys.verify({ key: secret, ip: '198.51.100.7', requiredScopes: ['orders:write'] });
    expect(ok).toMatchObject({ ok: true, value: { valid: true, code: 'VALID', keyId: key.id, merchantId: 'acme' } });
    const denied = await service.keys.verify({ key: secret, ip: '10.1.2.3' });
    expect(denied).toMatchObject({ ok: true, value: { valid: false, code: 'IP_DENIED', keyId: null } });
    const badIp = await service.keys.verify({ key: secret, ip: 'nope' });
    expect(badIp).toMatchObject({ ok: false, error: { __typename: 'ValidationError', code: 'VALIDATION_FAILED' } });

    const revoked = await client.keys.revoke(key.id);
    expect(revoked).toMatchObject({ ok: true, value: { status: 'REVOKED' } });
    expect(await client.keys.revoke(key.id)).toMatchObject({
      ok: false,
      error: { __typename: 'KeyRevokedError', code: 'KEY_REVOKED' },
    });
    expect(await client.keys.edit({ id: key.id, name: 'x' })).toMatchObject({
      ok: false,
      error: { code: 'KEY_REVOKED' },
    });
    expect(await client.keys.setIpRules({ keyId: key.id, rules: [] })).toMatchObject({
      ok: false,
      error: { code: 'KEY_REVOKED' },
    });
    expect(await service.keys.verify({ key: secret })).toMatchObject({
      ok: true,
      value: { valid: false, code: 'REVOKED' },
    });
    expect(await client.keys.revoke('nope')).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('creates and edits metered keys, and verifies with a cost: credits and rate limits typed end to end', async () => {
    const app = await client.applications.create({ name: unique() });
    if (!app.ok) throw new Error('setup');
    const created = await client.keys.create({
      applicationId: app.value.id,
      name: 'plan',
      credits: { remaining: 10, refillAmount: 10, refillInterval: 'MONTHLY', refillDay: 31 },
      rateLimits: [{ name: 'burst', limit: 2, windowSeconds: 3600 }],
    });
    if (!created.ok) throw new Error(created.error.message);
    const { key, secret } = created.value;
    expect(key.credits).toMatchObject({ remaining: 10, refillAmount: 10, refillInterval: 'MONTHLY', refillDay: 31 });
    expect(key.rateLimits).toEqual([{ name: 'burst', limit: 2, windowSeconds: 3600 }]);

    const spent = await service.keys.verify({ key: secret, cost: 4 });
    expect(spent).toMatchObject({
      ok: true,
      value: {
        code: 'VALID',
        creditsRemaining: 6,
        rateLimits: [{ name: 'burst', limit: 2, remaining: 1, exceeded: false }],
      },
    });
    expect(await service.keys.verify({ key: secret })).toMatchObject({ ok: true, value: { creditsRemaining: 5 } });
    const limited = await service.keys.verify({ key: secret });
    expect(limited).toMatchObject({
      ok: true,
      value: {
        valid: false,
        code: 'RATE_LIMITED',
        creditsRemaining: 5,
        rateLimits: [{ name: 'burst', exceeded: true }],
      },
    });
    if (limited.ok) expect(limited.value.retryAfterSeconds).toBeGreaterThan(0);

    const edited = await client.keys.edit({ id: key.id, credits: null, rateLimits: null });
    expect(edited).toMatchObject({ ok: true, value: { credits: null, rateLimits: [] } });
    expect(await service.keys.verify({ key: secret })).toMatchObject({
      ok: true,
      value: { code: 'VALID', creditsRemaining: null, rateLimits: null },
    });
    const bad = await client.keys.edit({ id: key.id, rateLimits: [{ name: 'x', limit: 0, windowSeconds: 1 }] });
    expect(bad).toMatchObject({
      ok: false,
      error: { __typename: 'ValidationError', issues: [{ path: ['input', 'rateLimits', '0', 'limit'] }] },
    });
  });

  it('reports the key limit, walks keys with all(), filters by status', async () => {
    const app = await client.applications.create({ name: unique() });
    if (!app.ok) throw new Error('setup');
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const k = await client.keys.create({ applicationId: app.value.id, name: `k${i}` });
      if (k.ok) ids.push(k.value.key.id);
    }
    const over = await client.keys.create({ applicationId: app.value.id, name: 'one too many' });
    expect(over).toMatchObject({ ok: false, error: { __typename: 'KeyLimitReachedError', limit: 3 } });
    expect(await client.keys.create({ applicationId: 'nope', name: 'x' })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    await client.keys.revoke(ids[0]!);

    const walked = [];
    for await (const key of client.keys.all(app.value.id, { pageSize: 1 })) walked.push(key.id);
    expect(walked).toEqual([...ids].reverse());
    const active = [];
    for await (const key of client.keys.all(app.value.id, { status: ['ACTIVE'] })) active.push(key.id);
    expect(active).toEqual([ids[2], ids[1]]);
    expect(await client.keys.list({ applicationId: 'nope', first: 1 })).toBeNull();
  });
});

describe('auditEvents', () => {
  it('lists and walks the audit trail with filters', async () => {
    const fresh = createKeygateClient({
      url: `${s.url}/graphql`,
      token: await s.merchantToken(`auditor-${Date.now()}`),
    });
    const app = await fresh.applications.create({ name: 'Audited' });
    if (!app.ok) throw new Error('setup');
    await fresh.applications.setEnabled(app.value.id, false);
    const page = await fresh.auditEvents.list({ first: 10 });
    expect(page.totalCount).toBe(2);
    expect(page.edges.map((e) => e.node.action)).toEqual(['setApplicationEnabled', 'createApplication']);
    expect(page.edges[1]!.node.summary).toEqual({ name: 'Audited' });
    const walked = [];
    for await (const event of fresh.auditEvents.all({ targetId: app.value.id, pageSize: 1 })) walked.push(event.action);
    expect(walked).toEqual(['setApplicationEnabled', 'createApplication']);
  });
});

describe('failures that are not answers', () => {
  it('throws KeygateRequestError for refused tokens, forbidden operations and unreachable servers', async () => {
    const anonymous = createKeygateClient({ url: `${s.url}/graphql` });
    await expect(anonymous.viewer()).rejects.toMatchObject({
      name: 'KeygateRequestError',
      code: 'UNAUTHENTICATED',
      status: 401,
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    const wrong = createKeygateClient({ url: `${s.url}/graphql`, token: 'not-a-jwt' });
    const refused = await wrong.applications.list().catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'UNAUTHENTICATED', requestId: expect.any(String) });
    // The id is the one the server logged the refusal under.
    expect(s.logs.some((line) => line.includes(`"requestId":"${(refused as KeygateRequestError).requestId}"`))).toBe(
      true,
    );
    await expect(service.applications.list()).rejects.toMatchObject({ code: 'FORBIDDEN', status: 403 });
    const offline = createKeygateClient({ url: 'http://127.0.0.1:1/graphql', token: 'x' });
    const error = await offline.viewer().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeygateRequestError);
    expect(error).toMatchObject({ code: 'NETWORK_ERROR' });
    await expect(client.applications.list({ first: 100_000 })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  it('refuses a token that cannot be one before sending anything, and never repeats it', async () => {
    let sent = 0;
    const counting: typeof fetch = (input, init) => {
      sent++;
      return fetch(input, init);
    };
    const jwt = await s.merchantToken('acme');
    // What $(pnpm run token acme) captured when pnpm's banner came with it.
    const captured = `\n> keygate@ token /work/keygate\n> pnpm --silent --filter @keygate/server token acme\n\n${jwt}`;
    for (const token of [captured, `${jwt}\n`, `Bearer ${jwt}`, `${jwt}\u0000`, '']) {
      const thrown = (() => {
        try {
          createKeygateClient({ url: `${s.url}/graphql`, token, fetch: counting });
        } catch (error) {
          return error;
        }
      })();
      expect(thrown).toBeInstanceOf(KeygateRequestError);
      expect(thrown).toMatchObject({ code: 'INVALID_TOKEN', status: undefined });
      expect((thrown as Error).message).not.toContain(jwt.slice(0, 20));
      expect((thrown as Error).message).not.toContain('keygate@');
      // The same when the token comes from getToken, at request time.
      const late = createKeygateClient({ url: `${s.url}/graphql`, getToken: () => token, fetch: counting });
      const error = await late.viewer().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'INVALID_TOKEN' });
      expect((error as Error).message).not.toContain(jwt.slice(0, 20));
    }
    expect(sent).toBe(0);
    const bearer = (() => {
      try {
        createKeygateClient({ url: `${s.url}/graphql`, token: `Bearer ${jwt}` });
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(bearer).toMatch(/pass the token alone/);
  });

  it('says which URL it could not reach and why: connection refused, an unknown host', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/graphql`;
    const cases: [string, RegExp][] = [
      [closed, /^Could not reach Keygate at http:\/\/127\.0\.0\.1:\d+\/graphql: connection refused \(ECONNREFUSED\)/],
      [
        'http://keygate.invalid/graphql',
        /^Could not reach Keygate at http:\/\/keygate\.invalid\/graphql: .*\((ENOTFOUND|EAI_AGAIN)\)/,
      ],
    ];
    for (const [url, message] of cases) {
      const error = await createKeygateClient({ url, token: 'x' })
        .viewer()
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'NETWORK_ERROR' });
      expect((error as Error).message).toMatch(message);
    }
  });

  it('names the /graphql path when the URL lacks it (404)', async () => {
    const error = await createKeygateClient({ url: s.url, token: await s.merchantToken('acme') })
      .viewer()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', status: 404 });
    expect((error as Error).message).toBe(
      `Could not reach Keygate at ${s.url}: it answered 404 Not Found: Keygate's GraphQL endpoint is /graphql (${s.url}/graphql)`,
    );
  });

  it('reports an address that guessed wrong too often as TOO_MANY_FAILURES, with when to retry', async () => {
    const limited = await startTestServer({ KEYGATE_FAILED_VERIFICATIONS: '2' }, s.db);
    try {
      const verifier = createKeygateClient({ url: `${limited.url}/graphql`, token: await limited.verifierToken() });
      const guess = () => verifier.keys.verify({ key: generateKey('live').secret, ip: '198.51.100.99' });
      expect(await guess()).toMatchObject({ ok: true, value: { valid: false, code: 'NOT_FOUND' } });
      expect(await guess()).toMatchObject({ ok: true, value: { valid: false, code: 'NOT_FOUND' } });
      const limitedAnswer = await guess();
      expect(limitedAnswer).toMatchObject({ ok: true, value: { valid: false, code: 'TOO_MANY_FAILURES' } });
      if (limitedAnswer.ok) expect(limitedAnswer.value.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    } finally {
      await limited.close();
    }
  });

  it('reads the viewer', async () => {
    expect(await client.viewer()).toMatchObject({ merchantId: 'acme' });
    const unknown = await service.keys.verify({ key: generateKey('live').secret });
    expect(unknown).toMatchObject({ ok: true, value: { valid: false, code: 'NOT_FOUND' } });
  });
});
