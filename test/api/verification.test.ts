// The verification path: every reason code through the verifier, GraphQL
// verifyKey and the HTTP forward-auth endpoint, with IP rules, the cache and
// last-used recording.
import { generateKey, parsePermissions } from '@keygate/core';
import {
  ApiKeyDocument as API_KEY,
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  EditKeyDocument as EDIT_KEY,
  SetApplicationEnabledDocument as ENABLE,
  type IpAction,
  type IpRuleInput,
  RevokeKeyDocument as REVOKE,
  SetIpRulesDocument as SET_IP_RULES,
  VerifyKeyDocument as VERIFY,
  type VerifyKeyInput,
} from '@keygate/sdk/documents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { member, ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let s: TestServer;
let merchant: string;
type Name =
  | 'main'
  | 'full'
  | 'readOnly'
  | 'revoked'
  | 'expired'
  | 'ipRules'
  | 'disabled'
  | 'globex'
  | 'changing'
  | 'busy';
const secrets = {} as Record<Name, string>;
const ids = {} as Record<Name, string>;

async function makeKey(name: Name, appId: string, input: Record<string, unknown> = {}, token = merchant) {
  const result = await s.graphql(token, CREATE_KEY, { input: { applicationId: appId, name, ...input } });
  secrets[name] = ok(result.data.createKey).secret;
  ids[name] = ok(result.data.createKey).key.id;
}

beforeAll(async () => {
  s = await startTestServer({ KEYGATE_TRUSTED_PROXIES: '127.0.0.1/32, ::1', KEYGATE_USAGE_FLUSH_MS: '3600000' });
  merchant = await s.merchantToken('acme');
  const main = ok((await s.graphql(merchant, CREATE_APP, { input: { name: 'Main' } })).data.createApplication)
    .application.id;
  const off = ok((await s.graphql(merchant, CREATE_APP, { input: { name: 'Disabled' } })).data.createApplication)
    .application.id;
  ids.main = main;
  await makeKey('full', main, { access: 'FULL_ACCESS', scopes: ['payments:*', 'refunds:read'] });
  await makeKey('readOnly', main, { access: 'READ_ONLY', environment: 'TEST' });
  await makeKey('revoked', main, { access: 'FULL_ACCESS' });
  await s.graphql(merchant, REVOKE, { input: { id: ids.revoked } });
  await makeKey('expired', main, { expiresAt: new Date(Date.now() + 60_000).toISOString() });
  await s.db.prisma.apiKey.updateMany({ where: { name: 'expired' }, data: { expiresAt: new Date(Date.now() - 1000) } });
  await makeKey('ipRules', main);
  await s.graphql(merchant, SET_IP_RULES, {
    input: {
      keyId: ids.ipRules,
      defaultAction: 'DENY',
      rules: [
        { cidr: '203.0.113.66', action: 'DENY' },
        { cidr: '203.0.113.0/24', action: 'ALLOW' },
        { cidr: '2001:db8::/32', action: 'ALLOW' },
      ],
    },
  });
  await makeKey('disabled', off);
  await s.graphql(merchant, ENABLE, { input: { id: off, enabled: false } });
  const globex = await s.merchantToken('globex');
  const globexApp = ok((await s.graphql(globex, CREATE_APP, { input: { name: 'Globex' } })).data.createApplication)
    .application.id;
  await makeKey('globex', globexApp, {}, globex);
});
afterAll(() => s.close());

const expression = (text: string) => {
  const parsed = parsePermissions(text);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.value;
};

type Case = [code: string, key: Name | 'unknown' | 'malformed', request: Omit<VerifyKeyInput, 'key'>];
const cases: Case[] = [
  [
    'VALID',
    'full',
    { ip: '198.51.100.1', requiredAccess: 'FULL_ACCESS', requiredScopes: ['payments:write', 'refunds:read'] },
  ],
  ['VALID', 'readOnly', { requiredAccess: 'READ_ONLY' }],
  ['INSUFFICIENT_ACCESS', 'readOnly', { requiredAccess: 'FULL_ACCESS' }],
  ['INSUFFICIENT_SCOPE', 'full', { requiredScopes: ['refunds:write'] }],
  // Permission expressions, the key's wildcard included: payments:* AND (refunds:write OR refunds:read).
  ['VALID', 'full', { requiredPermissions: 'payments:capture AND (refunds:write OR refunds:read)' }],
  ['VALID', 'full', { requiredPermissions: 'admin or refunds:read' }],
  ['INSUFFICIENT_SCOPE', 'full', { requiredPermissions: 'payments:capture AND (refunds:write OR admin)' }],
  ['INSUFFICIENT_SCOPE', 'full', { requiredScopes: ['payments:capture'], requiredPermissions: 'admin' }],
  ['REVOKED', 'revoked', {}],
  ['EXPIRED', 'expired', {}],
  ['APPLICATION_DISABLED', 'disabled', {}],
  ['VALID', 'ipRules', { ip: '203.0.113.9' }],
  ['IP_DENIED', 'ipRules', { ip: '203.0.113.66' }],
  ['IP_DENIED', 'ipRules', { ip: '198.51.100.1' }],
  ['VALID', 'ipRules', { ip: '2001:db8:1::5' }],
  ['IP_DENIED', 'ipRules', { ip: '2001:db9::1' }],
  ['VALID', 'ipRules', { ip: '::ffff:203.0.113.9' }],
  ['IP_DENIED', 'ipRules', { ip: '::ffff:203.0.113.66' }],
  ['NOT_FOUND', 'unknown', {}],
  ['MALFORMED', 'malformed', {}],
];
const secretOf = (name: Case[1]) =>
  name === 'unknown' ? generateKey('live').secret : name === 'malformed' ? 'kg_live_not-a-key' : secrets[name];
const STATUS: Record<string, number> = {
  VALID: 200,
  IP_DENIED: 403,
  INSUFFICIENT_ACCESS: 403,
  INSUFFICIENT_SCOPE: 403,
};

describe.each(cases)('%s: %s key %j', (code, name, request) => {
  it('through the verifier', async () => {
    const { requiredPermissions, ...rest } = request;
    const outcome = await s.server.verifier.verify({
      key: secretOf(name),
      ...(rest as object),
      requiredPermissions: requiredPermissions ? expression(requiredPermissions) : null,
    });
    expect(outcome.code).toBe(code);
  });

  it('through GraphQL verifyKey (service token)', async () => {
    const result = await s.graphql(await s.verifierToken(), VERIFY, { input: { key: secretOf(name), ...request } });
    expect(result.data.verifyKey).toMatchObject({ __typename: 'KeyVerification', valid: code === 'VALID', code });
    if (code === 'VALID') {
      expect(result.data.verifyKey).toMatchObject({
        keyId: ids[name as Name],
        applicationId: ids.main,
        merchantId: 'acme',
      });
    } else {
      expect(result.data.verifyKey).toMatchObject({ keyId: null, merchantId: null, scopes: null });
    }
  });

  it('through HTTP forward-auth', async () => {
    const headers: Record<string, string> = { 'x-api-key': secretOf(name) };
    if (request.ip) headers['x-forwarded-for'] = request.ip;
    const query = new URLSearchParams();
    if (request.requiredAccess) query.set('access', request.requiredAccess);
    if (request.requiredScopes) query.set('scopes', request.requiredScopes.join(','));
    if (request.requiredPermissions) query.set('permissions', request.requiredPermissions);
    // What a client sends can only be ignored: requirements come from the auth URL alone.
    headers['x-keygate-required-permissions'] = 'payments:* OR refunds:* OR admin';
    const response = await s.forwardAuth(headers, query.toString());
    expect(response.status).toBe(STATUS[code] ?? 401);
    expect(response.headers.get('x-keygate-code')).toBe(code);
    // A refusal says why in its body too; an acceptance has no body (gateways keep the connection).
    expect(response.body).toEqual(code === 'VALID' ? null : { valid: false, code });
    if (code === 'VALID') {
      expect(response.headers.get('x-keygate-key-id')).toBe(ids[name as Name]);
      expect(response.headers.get('x-keygate-application-id')).toBe(ids.main);
      expect(response.headers.get('x-keygate-merchant-id')).toBe('acme');
    } else {
      expect(response.headers.get('x-keygate-key-id')).toBeNull();
    }
  });
});

/**
 * Statements that read keys. Background work (webhook delivery, notices) may reach the database
 * while a test counts; verification itself must not.
 */
const keyReads = (statements: string[]) =>
  statements.filter((statement) => /keygate_load_key|\bapi_keys\b|\bip_rules\b/.test(statement));

describe('forward-auth request handling', () => {
  it('reads the key from Bearer, ApiKey and X-Api-Key, and reports identity headers', async () => {
    const variants: Record<string, string>[] = [
      { authorization: `Bearer ${secrets.readOnly}` },
      { authorization: `ApiKey ${secrets.readOnly}` },
      { 'x-api-key': secrets.readOnly! },
    ];
    for (const headers of variants) {
      const response = await s.forwardAuth(headers);
      expect(response.status).toBe(200);
      expect(Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('x-keygate-')))).toEqual({
        'x-keygate-code': 'VALID',
        'x-keygate-key-id': ids.readOnly,
        'x-keygate-application-id': ids.main,
        'x-keygate-merchant-id': 'acme',
        'x-keygate-environment': 'TEST',
        'x-keygate-access': 'READ_ONLY',
        'x-keygate-scopes': '',
        // Always present (empty when unset): a gateway copying them replaces a client's own.
        'x-keygate-metadata': '',
        'x-keygate-external-id': '',
        'x-keygate-identity-id': '',
        'x-keygate-identity-external-id': '',
      });
    }
    const missing = await s.forwardAuth({});
    expect([missing.status, missing.code, missing.headers.get('www-authenticate')]).toEqual([
      401,
      'MISSING_KEY',
      'ApiKey',
    ]);
    const bad = await s.forwardAuth({ 'x-api-key': secrets.full! }, 'access=EVERYTHING');
    expect([bad.status, bad.code]).toEqual([400, 'BAD_REQUIREMENTS']);
  });

  it('takes the required access from the original method', async () => {
    const readOnly = { 'x-api-key': secrets.readOnly! };
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      expect((await s.forwardAuth({ ...readOnly, 'x-original-method': method })).status).toBe(200);
    }
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const response = await s.forwardAuth({ ...readOnly, 'x-original-method': method });
      expect([response.status, response.code]).toEqual([403, 'INSUFFICIENT_ACCESS']);
    }
    expect((await s.forwardAuth({ ...readOnly, 'x-forwarded-method': 'POST' })).status).toBe(403);
    expect((await s.forwardAuth({ 'x-api-key': secrets.full!, 'x-original-method': 'DELETE' })).status).toBe(200);
  });

  it('rejects malformed keys without touching the database', async () => {
    const { secret } = generateKey('live');
    const badChecksum = secret.slice(0, -1) + (secret.endsWith('a') ? 'b' : 'a');
    const malformed = [
      '',
      'x',
      'k'.repeat(8000),
      secret.replace('kg_live_', 'kg_prod_'),
      badChecksum,
      `${secret}x`,
      'kg_live_ünïcödé',
    ];
    const { statements } = await s.db.countStatements(async () => {
      for (const key of malformed.filter((k) => /^[\x20-\x7e]*$/.test(k))) {
        const response = await s.forwardAuth({ authorization: `Bearer ${key}` });
        expect(response.status).toBe(401);
        expect(['MALFORMED', 'MISSING_KEY']).toContain(response.code);
      }
      for (const key of malformed) {
        expect((await s.server.verifier.verify({ key })).code).toBe('MALFORMED');
      }
    });
    expect(keyReads(statements)).toEqual([]);
  });

  it('remembers unknown keys, so repeating one does not reach the database', async () => {
    const { secret } = generateKey('live');
    expect((await s.forwardAuth({ 'x-api-key': secret })).code).toBe('NOT_FOUND');
    const { statements } = await s.db.countStatements(async () => {
      for (let i = 0; i < 20; i++) expect((await s.forwardAuth({ 'x-api-key': secret })).status).toBe(401);
    });
    expect(keyReads(statements)).toEqual([]);
  });

  it('serves a known key from memory after the first lookup', async () => {
    await s.forwardAuth({ 'x-api-key': secrets.full! });
    const { statements } = await s.db.countStatements(async () => {
      for (let i = 0; i < 20; i++) expect((await s.forwardAuth({ 'x-api-key': secrets.full! })).status).toBe(200);
    });
    expect(keyReads(statements)).toEqual([]);
  });
});

describe('management changes take effect on the very next verification', () => {
  it('revoke, edit, IP rules, expiry and application disabling', async () => {
    await makeKey('changing', ids.main!, { access: 'FULL_ACCESS' });
    const check = async () =>
      (await s.forwardAuth({ 'x-api-key': secrets.changing!, 'x-original-method': 'POST' })).code;
    expect(await check()).toBe('VALID');

    await s.graphql(merchant, EDIT_KEY, { input: { id: ids.changing, access: 'READ_ONLY' } });
    expect(await check()).toBe('INSUFFICIENT_ACCESS');
    await s.graphql(merchant, EDIT_KEY, { input: { id: ids.changing, access: 'FULL_ACCESS' } });
    expect(await check()).toBe('VALID');

    await s.graphql(merchant, SET_IP_RULES, { input: { keyId: ids.changing, rules: [], defaultAction: 'DENY' } });
    expect(await check()).toBe('IP_DENIED');
    await s.graphql(merchant, SET_IP_RULES, { input: { keyId: ids.changing, rules: [] } });
    expect(await check()).toBe('VALID');

    await s.graphql(merchant, ENABLE, { input: { id: ids.main, enabled: false } });
    expect(await check()).toBe('APPLICATION_DISABLED');
    await s.graphql(merchant, ENABLE, { input: { id: ids.main, enabled: true } });
    expect(await check()).toBe('VALID');

    await s.db.prisma.apiKey.updateMany({ where: { name: 'changing' }, data: { expiresAt: new Date(Date.now() - 1) } });
    await s.graphql(merchant, EDIT_KEY, {
      input: { id: ids.changing, expiresAt: new Date(Date.now() + 60_000).toISOString() },
    });
    expect(await check()).toBe('VALID');

    await s.graphql(merchant, REVOKE, { input: { id: ids.changing } });
    expect(await check()).toBe('REVOKED');
  });
});

describe('verifyKey callers', () => {
  it('lets a merchant verify its own keys only', async () => {
    const own = await s.graphql(merchant, VERIFY, { input: { key: secrets.full } });
    expect(own.data.verifyKey).toMatchObject({ valid: true, merchantId: 'acme' });
    const foreign = await s.graphql(merchant, VERIFY, { input: { key: secrets.globex } });
    expect(foreign.data.verifyKey).toMatchObject({ valid: false, code: 'NOT_FOUND', merchantId: null });
  });

  it('reports an invalid IP or scope as a validation error', async () => {
    const token = await s.verifierToken();
    const cases: [Omit<VerifyKeyInput, 'key'>, string][] = [
      [{ ip: '1.2.3' }, 'input.ip'],
      [{ ip: '203.0.113.1/24' }, 'input.ip'],
      [{ requiredScopes: ['bad scope'] }, 'input.requiredScopes.0'],
      [{ requiredPermissions: 'payments:read AND (refunds:write OR' }, 'input.requiredPermissions'],
    ];
    for (const [input, path] of cases) {
      const result = await s.graphql(token, VERIFY, { input: { key: secrets.full, ...input } });
      expect(result.data.verifyKey.__typename).toBe('ValidationError');
      expect(member(result.data.verifyKey, 'ValidationError').issues.map((i: any) => i.path.join('.'))).toEqual([path]);
    }
  });

  it('names where a malformed permission expression goes wrong, in GraphQL and in the auth URL', async () => {
    const token = await s.verifierToken();
    const text = 'payments:read AND (refunds:write OR';
    const result = await s.graphql(token, VERIFY, { input: { key: secrets.full, requiredPermissions: text } });
    expect(member(result.data.verifyKey, 'ValidationError').issues[0]?.message).toBe(
      'BAD_REQUIREMENTS: expected a scope or ( after OR, found the end (at character 36)',
    );
    const cases: [string, RegExp][] = [
      [text, /permissions: expected a scope or \( after OR, found the end \(at character 36\)/],
      ['a AND', /at character 6/],
      [`${'('.repeat(9)}a${')'.repeat(9)}`, /deeper than 8 \(at character 9\)/],
      ['x OR '.repeat(400), /longer than 1000 characters/],
    ];
    for (const [permissions, message] of cases) {
      const response = await s.forwardAuth(
        { 'x-api-key': secrets.full! },
        new URLSearchParams({ permissions }).toString(),
      );
      expect(response.status, permissions.slice(0, 20)).toBe(400);
      expect(response.headers.get('x-keygate-code')).toBe('BAD_REQUIREMENTS');
      expect(JSON.stringify(response.body)).toMatch(message);
    }
  });

  it('gives a verifier token nothing but verifyKey', async () => {
    const result = await s.graphql(await s.verifierToken(), '{ applications(first: 1) { totalCount } }');
    expect(result.status).toBe(403);
    expect(result.errors?.[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
  });
});

describe('last used', () => {
  it('shows time and IP after verification, written once per flush however many verifications', async () => {
    await makeKey('busy', ids.main!);
    const before = Date.now();
    for (let i = 0; i < 10_000; i++) {
      const outcome = s.server.verifier.verify({
        key: secrets.busy!,
        ip: i === 9_999 ? '2001:db8::7' : '198.51.100.1',
      });
      if (outcome instanceof Promise) await outcome;
    }
    const { statements } = await s.db.countStatements(() => s.server.usage.flush());
    // Only writes to keys count: the window also catches the webhook worker polling for deliveries.
    expect(statements.filter((sql) => /insert\s+into\s+api_key_last_used/i.test(sql))).toHaveLength(1);
    const { data } = await s.graphql(merchant, API_KEY, {
      id: ids.busy,
    });
    expect(data.apiKey!.lastUsedIp).toBe('2001:db8::7');
    expect(Date.parse(data.apiKey!.lastUsedAt!)).toBeGreaterThanOrEqual(before - 5);
    // Lists say the same, whether their keys are read in one statement or with relations (by Prisma).
    const list = await s.graphql(
      merchant,
      `query($id: ID!) { application(id: $id) {
        plain: keys(first: 100) { edges { node { id lastUsedAt lastUsedIp } } }
        withRules: keys(first: 100) { edges { node { id lastUsedAt lastUsedIp ipRules { cidr } } } } } }`,
      { id: ids.main },
    );
    const listed = list.data as Record<string, any>;
    for (const page of ['plain', 'withRules']) {
      const nodes = listed.application[page].edges.map((e: any) => e.node);
      const busy = nodes.find((n: any) => n.id === ids.busy);
      expect(busy, page).toMatchObject({ lastUsedIp: '2001:db8::7', lastUsedAt: data.apiKey!.lastUsedAt });
      expect(nodes.filter((n: any) => n.lastUsedAt === null).length, page).toBeGreaterThan(0);
    }
  });

  it('records the client address a gateway forwards', async () => {
    await s.forwardAuth({ 'x-api-key': secrets.ipRules!, 'x-forwarded-for': '203.0.113.200' });
    await s.server.usage.flush();
    const { data } = await s.graphql(merchant, API_KEY, {
      id: ids.ipRules,
    });
    expect(data.apiKey!.lastUsedIp).toBe('203.0.113.200');
  });
});

describe('health', () => {
  it('answers liveness and readiness', async () => {
    expect(await (await fetch(`${s.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${s.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);
  });
});

describe('client address', () => {
  it('ignores X-Forwarded-For and X-Real-IP from a peer that is not a trusted proxy', async () => {
    // Same database, but this server trusts no proxy: the loopback peer is the client.
    // Each server's checks follow rule changes made through that same server, whose own cache
    // is invalidated before the mutation returns (across servers it takes a few milliseconds).
    const untrusting = await startTestServer({ KEYGATE_TRUSTED_PROXIES: '10.0.0.0/8' }, s.db);
    try {
      const setRules = (server: TestServer, token: string, defaultAction: IpAction, rules: IpRuleInput[]) =>
        server.graphql(token, SET_IP_RULES, { input: { keyId: ids.ipRules, defaultAction, rules } });

      // The trusting server believes its proxy (loopback) and uses the forwarded address.
      await setRules(s, merchant, 'ALLOW', [{ cidr: '127.0.0.0/8', action: 'DENY' }]);
      const trusted = (headers: Record<string, string>) =>
        s.forwardAuth({ 'x-api-key': secrets.ipRules!, ...headers }).then((r) => r.code);
      expect(await trusted({ 'x-forwarded-for': '203.0.113.9' })).toBe('VALID');
      expect(await trusted({ 'x-real-ip': '203.0.113.9' })).toBe('VALID');
      // Trusted hops are skipped from the right; the first untrusted one is the client.
      expect(await trusted({ 'x-forwarded-for': '127.0.0.9, 203.0.113.9, 127.0.0.1' })).toBe('VALID');
      expect(await trusted({ 'x-forwarded-for': '203.0.113.9, 127.0.0.5' })).toBe('IP_DENIED');

      const token = await untrusting.merchantToken('acme');
      const untrusted = (headers: Record<string, string>) =>
        untrusting.forwardAuth({ 'x-api-key': secrets.ipRules!, ...headers }).then((r) => r.code);
      await setRules(untrusting, token, 'DENY', [{ cidr: '127.0.0.1', action: 'ALLOW' }]);
      expect(await untrusted({ 'x-forwarded-for': '203.0.113.9' })).toBe('VALID');
      expect(await untrusted({ 'x-real-ip': '198.51.100.1' })).toBe('VALID');
      await setRules(untrusting, token, 'ALLOW', [{ cidr: '127.0.0.0/8', action: 'DENY' }]);
      expect(await untrusted({ 'x-forwarded-for': '203.0.113.9' })).toBe('IP_DENIED');
    } finally {
      await untrusting.close();
    }
  });

  it('warns once per peer that sends forwarding headers without being a trusted proxy', async () => {
    const unconfigured = await startTestServer({ KEYGATE_TRUSTED_PROXIES: '' }, s.db);
    try {
      const warnings = () =>
        unconfigured.logs.filter((line) => line.includes('not in KEYGATE_TRUSTED_PROXIES')).map((l) => JSON.parse(l));
      await unconfigured.forwardAuth({ 'x-api-key': secrets.full! });
      expect(warnings()).toEqual([]);
      for (const header of ['x-forwarded-for', 'x-real-ip', 'x-forwarded-for']) {
        expect((await unconfigured.forwardAuth({ 'x-api-key': secrets.full!, [header]: '203.0.113.9' })).status).toBe(
          200,
        );
      }
      // GraphQL requests read the client address the same way (for the audit trail).
      await fetch(`${unconfigured.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.9' },
        body: '{"query":"{ __typename }"}',
      });
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]).toMatchObject({ level: 40, peer: '127.0.0.1' });
      expect(warnings()[0].msg).toContain('add it to KEYGATE_TRUSTED_PROXIES');
    } finally {
      await unconfigured.close();
    }
  });
});

describe('brute-force protection', () => {
  it('answers 429 / TOO_MANY_FAILURES to an address that keeps guessing, and leaves other clients alone', async () => {
    const limited = await startTestServer(
      { KEYGATE_TRUSTED_PROXIES: '127.0.0.1', KEYGATE_FAILED_VERIFICATIONS: '5' },
      s.db,
    );
    try {
      const from = (ip: string, key: string) => limited.forwardAuth({ 'x-api-key': key, 'x-forwarded-for': ip });
      for (let i = 0; i < 5; i++) expect((await from('198.51.100.66', generateKey('live').secret)).status).toBe(401);
      const blocked = await from('198.51.100.66', generateKey('live').secret);
      expect([blocked.status, blocked.code]).toEqual([429, 'TOO_MANY_FAILURES']);
      expect(blocked.headers.get('x-keygate-code')).toBe('TOO_MANY_FAILURES');
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // Even a valid key: the guesser learns nothing while limited.
      expect((await from('198.51.100.66', secrets.full!)).status).toBe(429);
      // Everybody else is unaffected.
      expect((await from('198.51.100.67', secrets.full!)).status).toBe(200);
      const graphql = await limited.graphql(await limited.verifierToken(), VERIFY, {
        input: { key: secrets.full, ip: '198.51.100.66' },
      });
      expect(graphql.data.verifyKey).toMatchObject({ valid: false, code: 'TOO_MANY_FAILURES' });
      expect(ok(graphql.data.verifyKey).retryAfterSeconds).toBeGreaterThanOrEqual(1);
      const other = await limited.graphql(await limited.verifierToken(), VERIFY, {
        input: { key: secrets.full, ip: '198.51.100.67' },
      });
      expect(other.data.verifyKey).toMatchObject({ valid: true, code: 'VALID' });
    } finally {
      await limited.close();
    }
  });

  it('a merchant verifying its own keys with any ip locks no one out', async () => {
    const limited = await startTestServer(
      { KEYGATE_TRUSTED_PROXIES: '127.0.0.1', KEYGATE_FAILED_VERIFICATIONS: '30' },
      s.db,
    );
    try {
      // The attack: 31 wrong guesses naming the gateway's own address (a key's lastUsedIp shows it).
      const attacker = await limited.merchantToken('globex');
      for (let i = 0; i < 31; i++) {
        for (const ip of ['127.0.0.1', '198.51.100.70']) {
          const guess = await limited.graphql(attacker, VERIFY, { input: { key: generateKey('live').secret, ip } });
          expect(ok(guess.data.verifyKey).code).toBe('NOT_FOUND');
        }
        const junk = await limited.graphql(attacker, VERIFY, { input: { key: 'kg_live_nope', ip: '127.0.0.1' } });
        expect(ok(junk.data.verifyKey).code).toBe('MALFORMED');
      }
      // Every client behind the gateway still gets through, by peer or by forwarded address...
      expect((await limited.forwardAuth({ 'x-api-key': secrets.full! })).status).toBe(200);
      expect(
        (await limited.forwardAuth({ 'x-api-key': secrets.full!, 'x-forwarded-for': '198.51.100.70' })).status,
      ).toBe(200);
      // ...and so do services and other merchants naming those addresses.
      const service = await limited.graphql(await limited.verifierToken(), VERIFY, {
        input: { key: secrets.full, ip: '127.0.0.1' },
      });
      expect(ok(service.data.verifyKey).code).toBe('VALID');
      const acme = await limited.merchantToken('acme');
      const own = await limited.graphql(acme, VERIFY, { input: { key: secrets.full, ip: '198.51.100.70' } });
      expect(ok(own.data.verifyKey).code).toBe('VALID');
      // The attacker's own valid keys are not blocked either: its guesses are simply not counted.
      expect(
        ok(
          (await limited.graphql(attacker, VERIFY, { input: { key: secrets.globex, ip: '127.0.0.1' } })).data.verifyKey,
        ).code,
      ).toBe('VALID');
    } finally {
      await limited.close();
    }
  });
});
