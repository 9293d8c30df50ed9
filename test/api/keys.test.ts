import { hashKey, parseKey } from '@keygate/core';
import type { IpRuleInput, KeyStatus } from '@keygate/sdk/documents';
import { describe, expect, test } from '../support/fixtures.ts';
import type { Harness } from '../support/harness.ts';
import {
  API_KEY,
  APPLICATION_KEYS,
  CREATE_KEY,
  createApplication,
  createKey,
  EDIT_KEY,
  REVOKE_KEY,
  SET_IP_RULES,
} from '../support/operations.ts';
import { member, ok } from '../support/results.ts';

test.override({ harnessOptions: { maxKeysPerApplication: 5 } });

const future = () => new Date(Date.now() + 86_400_000).toISOString();

async function setup(h: Harness) {
  const acme = await h.as('acme');
  const app = await createApplication(acme, 'Web store');
  return { acme, app };
}

describe('createKey', () => {
  test('returns the key and its secret; defaults to a read-only live key with no scopes', async ({ h }) => {
    const { acme, app } = await setup(h);
    const { secret, key } = await createKey(acme, app.id, { name: 'Checkout' });
    expect(parseKey(secret)).toEqual({ environment: 'live', secret });
    expect(secret.startsWith(key.prefix)).toBe(true);
    expect(key.prefix).toMatch(/^kg_live_[0-9A-Za-z]{4}$/);
    expect(key).toMatchObject({
      name: 'Checkout',
      access: 'READ_ONLY',
      environment: 'LIVE',
      scopes: [],
      status: 'ACTIVE',
      websiteUrl: null,
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
      lastUsedIp: null,
      ipDefaultAction: 'ALLOW',
      ipRules: [],
      application: { id: app.id },
    });
    const stored = await h.db.prisma.apiKey.findFirstOrThrow();
    expect(stored.hash).toBe(hashKey(secret));
  });

  test('stores every field given', async ({ h }) => {
    const { acme, app } = await setup(h);
    const expiresAt = future();
    const { secret, key } = await createKey(acme, app.id, {
      name: 'Staging backend',
      websiteUrl: 'https://shop.example.com/checkout',
      access: 'FULL_ACCESS',
      scopes: ['payments:write', 'refunds:read', 'payments:write'],
      environment: 'TEST',
      expiresAt,
    });
    expect(secret).toMatch(/^kg_test_/);
    expect(key).toMatchObject({
      websiteUrl: 'https://shop.example.com/checkout',
      access: 'FULL_ACCESS',
      scopes: ['payments:write', 'refunds:read'],
      environment: 'TEST',
      expiresAt: new Date(expiresAt).toISOString(),
    });
  });

  test('creates a different secret every time', async ({ h }) => {
    const { acme, app } = await setup(h);
    const secrets = new Set();
    for (let i = 0; i < 5; i++) secrets.add((await createKey(acme, app.id)).secret);
    expect(secrets.size).toBe(5);
  });

  test.for([
    [{ name: '' }, ['input', 'name']],
    [{ name: 'n'.repeat(101) }, ['input', 'name']],
    [{ websiteUrl: 'ftp://example.com' }, ['input', 'websiteUrl']],
    [{ websiteUrl: 'not a url' }, ['input', 'websiteUrl']],
    [{ websiteUrl: 'https://shop.example/\u0000' }, ['input', 'websiteUrl']],
    [{ scopes: ['payments write'] }, ['input', 'scopes', '0']],
    [{ scopes: Array.from({ length: 51 }, (_, i) => `s${i}`) }, ['input', 'scopes']],
    [{ expiresAt: new Date(Date.now() - 1000).toISOString() }, ['input', 'expiresAt']],
  ])('rejects %j naming the field, and stores nothing', async ([input, path], { h }) => {
    const { acme, app } = await setup(h);
    const { createKey: result } = await acme.gql(CREATE_KEY, { input: { applicationId: app.id, name: 'k', ...input } });
    expect(result).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION_FAILED' });
    expect(member(result, 'ValidationError').issues.map((i: any) => i.path)).toContainEqual(path);
    expect(await h.db.prisma.apiKey.count()).toBe(0);
  });

  test('rejects a malformed expiry date as a GraphQL input error', async ({ h }) => {
    const { acme, app } = await setup(h);
    const result = await acme.request(CREATE_KEY, {
      input: { applicationId: app.id, name: 'k', expiresAt: 'tomorrow' },
    });
    expect(result.errors?.[0]?.message).toContain('ISO 8601');
    expect(await h.db.prisma.apiKey.count()).toBe(0);
  });

  test('reports every bad field at once, each on its path, lone surrogates included; stores nothing', async ({ h }) => {
    const { acme, app } = await setup(h);
    const result = await acme.request(CREATE_KEY, {
      input: {
        applicationId: app.id,
        name: '',
        websiteUrl: 'nope',
        scopes: ['fine', 'bad scope'],
        externalId: 'cus\udc00',
        metadata: { plan: 'pro\ud800', '\ud800key': 1 },
        credits: { remaining: -1 },
        rateLimits: [{ name: 'a', limit: 0, windowSeconds: 1 }],
      },
    });
    expect(result.errors).toBeUndefined();
    expect(result.data.createKey.__typename).toBe('ValidationError');
    const surrogate = 'must be valid Unicode text (it holds a lone UTF-16 surrogate)';
    expect(member(result.data.createKey, 'ValidationError').issues).toEqual(
      expect.arrayContaining([
        { path: ['input', 'name'], message: 'must not be empty' },
        { path: ['input', 'websiteUrl'], message: 'must be an http:// or https:// URL' },
        { path: ['input', 'scopes', '1'], message: expect.stringContaining('must be 1-64') },
        { path: ['input', 'externalId'], message: surrogate },
        { path: ['input', 'metadata', 'plan'], message: surrogate },
        { path: ['input', 'metadata', '\ud800key'], message: surrogate },
        { path: ['input', 'credits', 'remaining'], message: 'must be at least 0' },
        { path: ['input', 'rateLimits', '0', 'limit'], message: 'must be at least 1' },
      ]),
    );
    expect(member(result.data.createKey, 'ValidationError').issues).toHaveLength(8);
    const listed = await acme.gql(APPLICATION_KEYS, { applicationId: app.id, first: 10 });
    expect(listed.application!.keys.totalCount).toBe(0);
  });

  test('reports an unknown application', async ({ h }) => {
    const acme = await h.as('acme');
    const { createKey: result } = await acme.gql(CREATE_KEY, {
      input: { applicationId: 'QXBwbGljYXRpb246MDE5MDAwMDAtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAw', name: 'k' },
    });
    expect(result).toMatchObject({ __typename: 'NotFoundError', resource: 'Application' });
  });

  test('stops at the key limit, counting only keys that are not revoked', async ({ h }) => {
    const { acme, app } = await setup(h);
    const keys = [];
    for (let i = 0; i < 5; i++) keys.push(await createKey(acme, app.id));
    const { createKey: over } = await acme.gql(CREATE_KEY, { input: { applicationId: app.id, name: 'one more' } });
    expect(over).toMatchObject({ __typename: 'KeyLimitReachedError', code: 'KEY_LIMIT_REACHED', limit: 5 });
    await acme.gql(REVOKE_KEY, { input: { id: keys[0]!.key.id } });
    await expect(createKey(acme, app.id)).resolves.toBeTruthy();
    expect(await h.db.prisma.apiKey.count()).toBe(6);
  });

  test('holds the limit under 20 concurrent creations: exactly the allowed number succeed', async ({ h }) => {
    const { acme, app } = await setup(h);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => acme.gql(CREATE_KEY, { input: { applicationId: app.id, name: `k${i}` } })),
    );
    const kinds = results.map((r) => r.createKey.__typename);
    expect(kinds.filter((k) => k === 'CreateKeyPayload')).toHaveLength(5);
    expect(kinds.filter((k) => k === 'KeyLimitReachedError')).toHaveLength(15);
    expect(await h.db.prisma.apiKey.count({ where: { revokedAt: null } })).toBe(5);
  });
});

describe('editKey', () => {
  test('changes only the given fields; null clears website and expiry', async ({ h }) => {
    const { acme, app } = await setup(h);
    const { key } = await createKey(acme, app.id, { name: 'a', websiteUrl: 'https://a.example', expiresAt: future() });
    const { editKey: renamed } = await acme.gql(EDIT_KEY, {
      input: { id: key.id, name: 'b', access: 'FULL_ACCESS', scopes: ['x:y'] },
    });
    expect(ok(renamed).key).toMatchObject({
      name: 'b',
      access: 'FULL_ACCESS',
      scopes: ['x:y'],
      websiteUrl: 'https://a.example',
      expiresAt: key.expiresAt,
    });
    const { editKey: cleared } = await acme.gql(EDIT_KEY, { input: { id: key.id, websiteUrl: null, expiresAt: null } });
    expect(ok(cleared).key).toMatchObject({ name: 'b', websiteUrl: null, expiresAt: null });
  });

  test('shows an expired key as EXPIRED and revives it when the expiry moves', async ({ h }) => {
    const { acme, app } = await setup(h);
    const { key } = await createKey(acme, app.id, { expiresAt: future() });
    await h.db.prisma.apiKey.updateMany({ data: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await acme.gql(API_KEY, { id: key.id })).apiKey?.status).toBe('EXPIRED');
    const { editKey } = await acme.gql(EDIT_KEY, { input: { id: key.id, expiresAt: future() } });
    expect(ok(editKey).key.status).toBe('ACTIVE');
  });

  test('rejects invalid values, null for required fields, unknown ids and revoked keys', async ({ h }) => {
    const { acme, app } = await setup(h);
    const { key } = await createKey(acme, app.id);
    const invalid = await acme.gql(EDIT_KEY, { input: { id: key.id, websiteUrl: 'javascript:alert(1)' } });
    expect(member(invalid.editKey, 'ValidationError').issues).toEqual([
      { path: ['input', 'websiteUrl'], message: expect.any(String) },
    ]);
    const nullName = await acme.gql(EDIT_KEY, { input: { id: key.id, name: null } });
    expect(member(nullName.editKey, 'ValidationError').issues).toEqual([
      { path: ['input', 'name'], message: 'must not be null' },
    ]);
    const missing = await acme.gql(EDIT_KEY, {
      input: { id: 'QXBpS2V5OjAxOTAwMDAwLTAwMDAtNzAwMC04MDAwLTAwMDAwMDAwMDAwMA==', name: 'x' },
    });
    expect(missing.editKey).toMatchObject({ __typename: 'NotFoundError', resource: 'ApiKey' });
    await acme.gql(REVOKE_KEY, { input: { id: key.id } });
    const revoked = await acme.gql(EDIT_KEY, { input: { id: key.id, name: 'x' } });
    expect(revoked.editKey).toMatchObject({ __typename: 'KeyRevokedError', code: 'KEY_REVOKED', keyId: key.id });
    expect((await acme.gql(API_KEY, { id: key.id })).apiKey?.name).toBe('Test key');
  });
});

describe('revokeKey', () => {
  test('revokes for good: status, time, and a typed error the second time', async ({ h }) => {
    const { acme, app } = await setup(h);
    const { key } = await createKey(acme, app.id);
    const { revokeKey: first } = await acme.gql(REVOKE_KEY, { input: { id: key.id } });
    expect(ok(first).key.status).toBe('REVOKED');
    expect(Date.parse(ok(first).key.revokedAt!)).toBeGreaterThan(Date.now() - 60_000);
    const { revokeKey: second } = await acme.gql(REVOKE_KEY, { input: { id: key.id } });
    expect(second).toMatchObject({ __typename: 'KeyRevokedError', revokedAt: ok(first).key.revokedAt });
    const { editKey } = await acme.gql(EDIT_KEY, { input: { id: key.id, expiresAt: future() } });
    expect(editKey.__typename).toBe('KeyRevokedError');
  });

  test('lets exactly one of concurrent revocations succeed', async ({ h }) => {
    const { acme, app } = await setup(h);
    const { key } = await createKey(acme, app.id);
    const results = await Promise.all([1, 2, 3].map(() => acme.gql(REVOKE_KEY, { input: { id: key.id } })));
    expect(results.map((r) => r.revokeKey.__typename).sort()).toEqual([
      'ApiKeyPayload',
      'KeyRevokedError',
      'KeyRevokedError',
    ]);
  });
});

describe('setIpRules', () => {
  test('replaces the whole list in order, canonicalising each range', async ({ h }) => {
    const { acme, app } = await setup(h);
    const { key } = await createKey(acme, app.id);
    const rules: IpRuleInput[] = [
      { cidr: '10.0.0.0/8', action: 'DENY' },
      { cidr: '203.0.113.7', action: 'ALLOW' },
      { cidr: '2001:DB8::/32', action: 'ALLOW' },
      { cidr: '::ffff:192.0.2.0/120', action: 'ALLOW' },
    ];
    const { setIpRules: first } = await acme.gql(SET_IP_RULES, {
      input: { keyId: key.id, rules, defaultAction: 'DENY' },
    });
    expect(ok(first).key.ipDefaultAction).toBe('DENY');
    expect(ok(first).key.ipRules).toEqual([
      { cidr: '10.0.0.0/8', action: 'DENY' },
      { cidr: '203.0.113.7/32', action: 'ALLOW' },
      { cidr: '2001:db8::/32', action: 'ALLOW' },
      { cidr: '192.0.2.0/24', action: 'ALLOW' },
    ]);
    const { setIpRules: second } = await acme.gql(SET_IP_RULES, {
      input: { keyId: key.id, rules: [{ cidr: '::1', action: 'ALLOW' }] },
    });
    expect(ok(second).key.ipRules).toEqual([{ cidr: '::1/128', action: 'ALLOW' }]);
    expect(ok(second).key.ipDefaultAction).toBe('ALLOW');
    expect(await h.db.prisma.ipRule.count()).toBe(1);
  });

  test('names the invalid entry and changes nothing', async ({ h }) => {
    const { acme, app } = await setup(h);
    const { key } = await createKey(acme, app.id);
    await acme.gql(SET_IP_RULES, { input: { keyId: key.id, rules: [{ cidr: '192.0.2.1', action: 'ALLOW' }] } });
    const { setIpRules } = await acme.gql(SET_IP_RULES, {
      input: {
        keyId: key.id,
        rules: [
          { cidr: '10.0.0.0/8', action: 'ALLOW' },
          { cidr: '10.0.0.1/8', action: 'DENY' },
          { cidr: '300.1.1.1', action: 'DENY' },
        ],
      },
    });
    expect(setIpRules.__typename).toBe('ValidationError');
    expect(member(setIpRules, 'ValidationError').issues).toEqual([
      { path: ['input', 'rules', '1', 'cidr'], message: expect.stringContaining('10.0.0.0/8') },
      { path: ['input', 'rules', '2', 'cidr'], message: expect.stringContaining('300.1.1.1') },
    ]);
    expect((await acme.gql(API_KEY, { id: key.id })).apiKey?.ipRules).toEqual([
      { cidr: '192.0.2.1/32', action: 'ALLOW' },
    ]);
  });

  test('rejects more than 100 rules, unknown keys and revoked keys', async ({ h }) => {
    const { acme, app } = await setup(h);
    const { key } = await createKey(acme, app.id);
    const tooMany = Array.from({ length: 101 }, (_, i) => ({ cidr: `10.0.${i}.0/24`, action: 'ALLOW' as const }));
    const many = await acme.gql(SET_IP_RULES, { input: { keyId: key.id, rules: tooMany } });
    expect(member(many.setIpRules, 'ValidationError').issues[0]!.path).toEqual(['input', 'rules']);
    const missing = await acme.gql(SET_IP_RULES, { input: { keyId: 'x', rules: [] } });
    expect(missing.setIpRules).toMatchObject({ __typename: 'NotFoundError', id: 'x' });
    await acme.gql(REVOKE_KEY, { input: { id: key.id } });
    const revoked = await acme.gql(SET_IP_RULES, { input: { keyId: key.id, rules: [] } });
    expect(revoked.setIpRules.__typename).toBe('KeyRevokedError');
  });
});

describe('Application.keys', () => {
  test('filters by status and counts the filtered total', async ({ h }) => {
    const { acme, app } = await setup(h);
    const [a, b, c] = [
      await createKey(acme, app.id, { name: 'a' }),
      await createKey(acme, app.id, { name: 'b', expiresAt: future() }),
      await createKey(acme, app.id, { name: 'c' }),
    ];
    await acme.gql(REVOKE_KEY, { input: { id: a.key.id } });
    await h.db.prisma.apiKey.update({
      where: { id: (await h.db.prisma.apiKey.findFirstOrThrow({ where: { name: 'b' } })).id },
      data: { expiresAt: new Date(Date.now() - 1) },
    });
    const names = async (status?: KeyStatus[]) => {
      const { application } = await acme.gql(APPLICATION_KEYS, { applicationId: app.id, first: 10, status });
      return {
        total: application!.keys.totalCount,
        names: application!.keys.edges.map((e: any) => `${e.node.name}:${e.node.status}`),
      };
    };
    expect(await names()).toEqual({ total: 3, names: ['c:ACTIVE', 'b:EXPIRED', 'a:REVOKED'] });
    expect(await names(['ACTIVE'])).toEqual({ total: 1, names: ['c:ACTIVE'] });
    expect(await names(['REVOKED'])).toEqual({ total: 1, names: ['a:REVOKED'] });
    expect(await names(['ACTIVE', 'EXPIRED'])).toEqual({ total: 2, names: ['c:ACTIVE', 'b:EXPIRED'] });
    expect([b, c]).toHaveLength(2);
  });
});
