// A key's life after creation: rolled to a new secret with a grace period,
// disabled and enabled again, carrying metadata and an owner id — each change
// reaching a second instance on the same database by its next verification.
import { createKeygateClient } from '@keygate/sdk';
import { ApplicationKeysDocument, CreateApplicationDocument, CreateKeyDocument } from '@keygate/sdk/documents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';
import { ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let db: TestDatabase;
let s: TestServer;
let other: TestServer;
let sdk: ReturnType<typeof createKeygateClient>;
let stranger: ReturnType<typeof createKeygateClient>;
let token: string;
let serviceToken: string;
let now = Date.parse('2026-07-01T12:00:00.000Z');
const clock = () => now;

beforeAll(async () => {
  db = await openTestDatabase();
  const env = { KEYGATE_MAX_KEYS_PER_APPLICATION: '3', KEYGATE_USAGE_FLUSH_MS: '3600000' };
  s = await startTestServer(env, db, { clock });
  other = await startTestServer(env, db, { clock });
  token = await s.merchantToken('acme');
  serviceToken = await s.verifierToken();
  sdk = createKeygateClient({ url: `${s.url}/graphql`, token });
  stranger = createKeygateClient({ url: `${s.url}/graphql`, token: await s.merchantToken('globex') });
});
afterAll(async () => {
  await other?.close();
  await s?.close();
  await db?.close();
});

async function application(name = `app ${Math.random().toString(36).slice(2, 8)}`) {
  const created = await s.graphql(token, CreateApplicationDocument, { input: { name } });
  return ok(created.data.createApplication).application.id as string;
}

type Input = Parameters<typeof sdk.keys.create>[0];
async function createKey(input: Partial<Input> = {}, app?: string) {
  const result = await sdk.keys.create({ applicationId: app ?? (await application()), name: 'backend', ...input });
  if (!result.ok) throw new Error(JSON.stringify(result.error));
  return result.value;
}

/** The same verification through /v1/auth and verifyKey on one instance: both must agree. */
async function code(server: TestServer, secret: string): Promise<string> {
  const gateway = await server.forwardAuth({ 'x-api-key': secret });
  const graphql = await server.graphql(
    await server.verifierToken(),
    'mutation($k: String!) { verifyKey(input: { key: $k }) { ... on KeyVerification { code } } }',
    { k: secret },
  );
  expect(gateway.code).toBe(graphql.data.verifyKey.code);
  return String(gateway.code);
}

describe('rollKey', () => {
  it('replaces the key with a copy under a new secret; both verify during the grace period, then the old is EXPIRED', async () => {
    now = Date.parse('2026-07-01T12:00:00.000Z');
    const old = await createKey({
      access: 'FULL_ACCESS',
      scopes: ['orders:*'],
      websiteUrl: 'https://shop.example',
      metadata: { plan: 'pro' },
      externalId: 'cus_1',
      credits: { remaining: 100 },
      rateLimits: [{ name: 'minute', limit: 50, windowSeconds: 60 }],
    });
    await sdk.keys.setIpRules({ keyId: old.key.id, rules: [{ cidr: '203.0.113.0/24', action: 'DENY' }] });
    for (const server of [s, other]) expect(await code(server, old.secret)).toBe('VALID');

    const rolled = await sdk.keys.roll(old.key.id, { gracePeriodSeconds: 3600 });
    if (!rolled.ok) throw new Error(JSON.stringify(rolled.error));
    const { key, secret, previousKey } = rolled.value;
    expect(secret).not.toBe(old.secret);
    expect(secret.startsWith(key.prefix)).toBe(true);
    expect(key).toMatchObject({
      name: 'backend',
      access: 'FULL_ACCESS',
      scopes: ['orders:*'],
      websiteUrl: 'https://shop.example',
      metadata: { plan: 'pro' },
      externalId: 'cus_1',
      ipRules: [{ cidr: '203.0.113.0/24', action: 'DENY' }],
      rateLimits: [{ name: 'minute', limit: 50, windowSeconds: 60 }],
      rolledFrom: { id: old.key.id },
      rolledTo: null,
      status: 'ACTIVE',
    });
    // Two verifications were spent before the roll; the rest moved.
    expect(key.credits?.remaining).toBeLessThanOrEqual(98);
    expect(previousKey).toMatchObject({
      id: old.key.id,
      rolledTo: { id: key.id },
      credits: null,
      rateLimits: [],
      expiresAt: '2026-07-01T13:00:00.000Z',
    });

    for (const server of [s, other]) {
      expect(await code(server, old.secret)).toBe('VALID');
      expect(await code(server, secret)).toBe('VALID');
    }
    // During the grace both keys spend from one quota: the new key's.
    const before = (await s.server.verifier.verify({ key: secret })).creditsRemaining!;
    await s.server.verifier.verify({ key: old.secret });
    expect((await s.server.verifier.verify({ key: secret })).creditsRemaining).toBe(before - 2);

    now = Date.parse('2026-07-01T13:00:00.000Z');
    for (const server of [s, other]) {
      expect(await code(server, old.secret)).toBe('EXPIRED');
      expect(await code(server, secret)).toBe('VALID');
    }
    expect((await sdk.keys.get(old.key.id))?.status).toBe('EXPIRED');
  });

  it('with no grace refuses the old secret on the very next request, on both instances', async () => {
    now = Date.parse('2026-07-02T12:00:00.000Z');
    const old = await createKey();
    for (const server of [s, other]) expect(await code(server, old.secret)).toBe('VALID');
    const rolled = await sdk.keys.roll(old.key.id);
    if (!rolled.ok) throw new Error('roll failed');
    for (const server of [other, s]) {
      expect(await code(server, old.secret)).toBe('EXPIRED');
      expect(await code(server, rolled.value.secret)).toBe('VALID');
    }
  });

  it('a rolled key’s end is final: no edit of its expiry brings it back, even once its replacement is revoked', async () => {
    now = Date.now(); // expiries given to editKey must be in the future by the wall clock
    const old = await createKey();
    const rolled = await sdk.keys.roll(old.key.id);
    if (!rolled.ok) throw new Error('roll failed');
    const end = (await sdk.keys.get(old.key.id))?.expiresAt;
    await sdk.keys.revoke(rolled.value.key.id);
    for (const expiresAt of [null, new Date(now + 86_400_000).toISOString()]) {
      const edited = await sdk.keys.edit({ id: old.key.id, expiresAt });
      expect(edited).toMatchObject({
        ok: false,
        error: {
          __typename: 'ValidationError',
          issues: [
            {
              path: ['input', 'expiresAt'],
              message: expect.stringContaining(`this key was rolled into ${rolled.value.key.id}: its end`),
            },
          ],
        },
      });
    }
    for (const server of [s, other]) expect(await code(server, old.secret)).toBe('EXPIRED');
    expect((await sdk.keys.get(old.key.id))?.expiresAt).toBe(end);
    // Its grace may be ended sooner.
    const graced = await createKey();
    const again = await sdk.keys.roll(graced.key.id, { gracePeriodSeconds: 3600 });
    if (!again.ok) throw new Error('roll failed');
    const sooner = new Date(now + 60_000).toISOString();
    expect(await sdk.keys.edit({ id: graced.key.id, expiresAt: sooner })).toMatchObject({
      ok: true,
      value: { expiresAt: sooner },
    });
  });

  it('exactly one of ten concurrent rolls wins; rolling again names the replacement; a revoked key cannot roll', async () => {
    const app = await application();
    const old = await createKey({}, app);
    await createKey({ name: 'second' }, app);
    await createKey({ name: 'third' }, app);
    // The application is at its limit of 3 keys: rolling replaces one, so it works.
    const results = await Promise.all(
      Array.from({ length: 10 }, () => sdk.keys.roll(old.key.id, { gracePeriodSeconds: 60 })),
    );
    const won = results.filter((r) => r.ok);
    expect(won).toHaveLength(1);
    const successor = won[0]!.ok ? won[0]!.value.key.id : '';
    for (const lost of results.filter((r) => !r.ok)) {
      expect(lost).toMatchObject({
        ok: false,
        error: {
          __typename: 'ValidationError',
          issues: [{ path: ['input', 'id'], message: `this key was already rolled; its replacement is ${successor}` }],
        },
      });
    }
    expect((await sdk.keys.list({ applicationId: app }))?.totalCount).toBe(4);

    await sdk.keys.revoke(successor);
    expect(await sdk.keys.roll(successor)).toMatchObject({ ok: false, error: { __typename: 'KeyRevokedError' } });
    expect(await sdk.keys.roll(old.key.id, { gracePeriodSeconds: 7 * 86_400 + 1 })).toMatchObject({
      ok: false,
      error: { __typename: 'ValidationError', issues: [{ path: ['input', 'gracePeriodSeconds'] }] },
    });

    const events = await sdk.auditEvents.list({ action: 'rollKey', targetId: old.key.id });
    expect(events.edges.map((e) => e.node.summary)).toEqual([
      { gracePeriodSeconds: 60, newKeyId: successor, prefix: expect.stringMatching(/^kg_live_/) },
    ]);
  });

  it('shows the new secret once: in no table, no log line and no later answer', async () => {
    const old = await createKey();
    const rolled = await sdk.keys.roll(old.key.id, { gracePeriodSeconds: 10 });
    if (!rolled.ok) throw new Error('roll failed');
    const { secret, key } = rolled.value;
    expect(await db.dumpAllTables()).not.toContain(secret);
    expect(s.logs.join('\n')).not.toContain(secret);
    const later = JSON.stringify([
      await sdk.keys.get(key.id),
      await sdk.keys.get(old.key.id),
      await sdk.auditEvents.list({ targetId: old.key.id }),
    ]);
    expect(later).not.toContain(secret);
    expect(later).not.toContain(secret.slice(key.prefix.length));
  });
});

describe('setKeyEnabled', () => {
  it('disables (KEY_DISABLED on both instances at once) and enables again', async () => {
    const { key, secret } = await createKey();
    for (const server of [s, other]) expect(await code(server, secret)).toBe('VALID');
    const disabled = await sdk.keys.setEnabled(key.id, false);
    expect(disabled).toMatchObject({ ok: true, value: { enabled: false, status: 'DISABLED' } });
    for (const server of [other, s]) expect(await code(server, secret)).toBe('KEY_DISABLED');
    const app = key.application.id;
    expect((await sdk.keys.list({ applicationId: app, status: ['DISABLED'] }))?.edges.map((e) => e.node.id)).toEqual([
      key.id,
    ]);
    expect((await sdk.keys.list({ applicationId: app, status: ['ACTIVE'] }))?.totalCount).toBe(0);
    expect(await sdk.keys.setEnabled(key.id, true)).toMatchObject({
      ok: true,
      value: { enabled: true, status: 'ACTIVE' },
    });
    for (const server of [other, s]) expect(await code(server, secret)).toBe('VALID');
    const events = await sdk.auditEvents.list({ action: 'setKeyEnabled', targetId: key.id });
    expect(events.edges.map((e) => e.node.summary)).toEqual([{ enabled: true }, { enabled: false }]);

    await sdk.keys.revoke(key.id);
    expect(await sdk.keys.setEnabled(key.id, true)).toMatchObject({
      ok: false,
      error: { __typename: 'KeyRevokedError' },
    });
    // Revoked comes first: a revoked key is REVOKED whatever else holds.
    expect(await code(s, secret)).toBe('REVOKED');
  });
});

describe('metadata and owner id', () => {
  const metadata = {
    plan: 'pro',
    customer: { id: 'c_1', tags: ['beta', 'eu'], limits: { seats: 5 } },
    ratio: 1.5,
    active: true,
    note: null,
    name: 'Zoë ✓',
  };

  it('round-trip byte for byte through GraphQL, verifyKey and X-Keygate-Metadata', async () => {
    // Sent as written (the SDK's urql client sends object keys sorted, which is also kept as sent).
    const created = await s.graphql(token, CreateKeyDocument, {
      input: { applicationId: await application(), name: 'meta', metadata, externalId: 'cus_42' },
    });
    const { key, secret } = ok(created.data.createKey);
    const text = JSON.stringify(metadata);
    expect(JSON.stringify(key.metadata)).toBe(text);
    expect(JSON.stringify((await sdk.keys.get(key.id))?.metadata)).toBe(text);
    const verified = await s.graphql(
      serviceToken,
      'mutation($k: String!) { verifyKey(input: { key: $k }) { ... on KeyVerification { metadata externalId } } }',
      { k: secret },
    );
    expect(JSON.stringify(verified.data.verifyKey.metadata)).toBe(text);
    expect(verified.data.verifyKey.externalId).toBe('cus_42');
    const gateway = await other.forwardAuth({ 'x-api-key': secret });
    expect(Buffer.from(gateway.headers.get('x-keygate-metadata')!, 'base64url').toString()).toBe(text);
    expect(gateway.headers.get('x-keygate-external-id')).toBe('cus_42');

    // Changed on one instance, seen on the other at once; null clears.
    await sdk.keys.edit({ id: key.id, metadata: { plan: 'enterprise' }, externalId: null });
    const after = await other.forwardAuth({ 'x-api-key': secret });
    expect(Buffer.from(after.headers.get('x-keygate-metadata')!, 'base64url').toString()).toBe('{"plan":"enterprise"}');
    expect(after.headers.get('x-keygate-external-id')).toBe('');
    await sdk.keys.edit({ id: key.id, metadata: null });
    expect((await sdk.keys.get(key.id))?.metadata).toBeNull();
    expect((await other.forwardAuth({ 'x-api-key': secret })).headers.get('x-keygate-metadata')).toBe('');
  });

  it('refuses metadata that is not an object, too large, too deep or holding a key, with its path', async () => {
    const app = await application();
    const deep = { a: { b: { c: { d: { e: { f: 1 } } } } } };
    const cases: [unknown, string[], string][] = [
      [['a'], ['input', 'metadata'], 'must be a JSON object'],
      ['plan', ['input', 'metadata'], 'must be a JSON object'],
      [{ blob: 'x'.repeat(4096) }, ['input', 'metadata'], 'must be at most 4096 bytes as JSON (is 4107)'],
      [deep, ['input', 'metadata', 'a', 'b', 'c', 'd', 'e'], 'nests deeper than 5 levels'],
      [
        { nested: [{ leaked: 'kg_live_AbCdEfGhIjKlMnOpQrStUvWx12' }] },
        ['input', 'metadata', 'nested', '0', 'leaked'],
        'must not hold a Keygate key',
      ],
    ];
    const before = await db.prisma.apiKey.count();
    for (const [value, path, message] of cases) {
      const result = await s.graphql(token, CreateKeyDocument, {
        input: { applicationId: app, name: 'x', metadata: value },
      });
      expect(result.data.createKey, JSON.stringify(value).slice(0, 60)).toMatchObject({
        __typename: 'ValidationError',
        issues: [{ path, message }],
      });
    }
    expect(await db.prisma.apiKey.count()).toBe(before);
    // Depth 5 and 4 KiB exactly are fine.
    const shape = { a: { b: { c: { d: { e: 1 } } } }, pad: '' };
    const fits = { ...shape, pad: 'x'.repeat(4096 - JSON.stringify(shape).length) };
    expect(Buffer.byteLength(JSON.stringify(fits))).toBe(4096);
    await createKey({ metadata: fits }, app);
    const long = await s.graphql(token, CreateKeyDocument, {
      input: { applicationId: app, name: 'x', externalId: 'x'.repeat(256) },
    });
    expect(long.data.createKey).toMatchObject({
      __typename: 'ValidationError',
      issues: [{ path: ['input', 'externalId'] }],
    });
  });

  it('finds keys by owner id, and by name or prefix', async () => {
    const app = await application();
    const a = await createKey({ name: 'Checkout backend', externalId: 'cus_7' }, app);
    await createKey({ name: 'Reporting', externalId: 'cus_8' }, app);
    const ids = async (variables: { externalId?: string; search?: string }) =>
      (
        await s.graphql(token, ApplicationKeysDocument, { applicationId: app, ...variables })
      ).data.application!.keys.edges.map((e: { node: { id: string } }) => e.node.id);
    expect(await ids({ externalId: 'cus_7' })).toEqual([a.key.id]);
    expect(await ids({ search: 'checkout' })).toEqual([a.key.id]);
    expect(await ids({ search: a.key.prefix })).toEqual([a.key.id]);
    expect(await ids({ search: 'nothing like it' })).toEqual([]);
    expect(await ids({ externalId: 'cus_7', search: 'Reporting' })).toEqual([]);
  });
});

describe('tenant isolation', () => {
  it('another merchant’s key behaves exactly like a missing one for rollKey and setKeyEnabled', async () => {
    const { key, secret } = await createKey();
    const missing = key.id.replace(/.{4}$/, 'AAAA');
    const foreign = [await stranger.keys.roll(key.id), await stranger.keys.setEnabled(key.id, false)];
    const absent = [await stranger.keys.roll(missing), await stranger.keys.setEnabled(missing, false)];
    for (const [i, result] of foreign.entries()) {
      expect(result).toMatchObject({ ok: false, error: { __typename: 'NotFoundError', code: 'NOT_FOUND' } });
      const strip = (r: typeof result) =>
        r.ok ? r : { ...r, error: { ...r.error, id: undefined, message: undefined } };
      expect(strip(result)).toEqual(strip(absent[i]!));
    }
    // Nothing changed.
    expect(await code(s, secret)).toBe('VALID');
    expect((await sdk.keys.get(key.id))?.rolledTo).toBeNull();
  });
});
