// Importing keys issued elsewhere, by the hashes of their secrets: 10,000 of them (made here, the
// secrets kept here), each verifying; a typo NOT_FOUND (and remembered); a string with no
// registered prefix MALFORMED without a database statement; idempotent; all or nothing.
import { createHash, randomBytes } from 'node:crypto';
import { KEY_LENGTH } from '@keygate/core';
import {
  ApiKeyDocument,
  AuditEventsDocument,
  CreateApplicationDocument,
  type ImportKeyInput,
  ImportKeysDocument,
  ImportPrefixesDocument,
  RegisterImportPrefixDocument,
  RemoveImportPrefixDocument,
  RevokeKeyDocument,
  RollKeyDocument,
} from '@keygate/sdk/documents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { member, ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let s: TestServer;
let token: string;
let app: string;

beforeAll(async () => {
  s = await startTestServer({ KEYGATE_MAX_KEYS_PER_APPLICATION: '20000' });
  token = await s.merchantToken('acme');
  app = ok(
    (await s.graphql(token, CreateApplicationDocument, { input: { name: 'Legacy API' } })).data.createApplication,
  ).application.id;
  ok(
    (await s.graphql(token, RegisterImportPrefixDocument, { input: { prefix: 'sk_live_' } })).data.registerImportPrefix,
  );
}, 60_000);
afterAll(() => s?.close());

/** A key as the platform issued it before Keygate: its own format, its secret only the platform's. */
const issued = () => `sk_live_${randomBytes(24).toString('base64url')}`;
const sha256 = (secret: string, encoding: 'hex' | 'base64' = 'hex') =>
  createHash('sha256').update(secret).digest(encoding);
const row = (secret: string, name: string, extra: Partial<ImportKeyInput> = {}): ImportKeyInput => ({
  hash: sha256(secret),
  prefix: secret.slice(0, 12),
  name,
  ...extra,
});
const importKeys = async (keys: ImportKeyInput[], as = token) =>
  (await s.graphql(as, ImportKeysDocument, { input: { applicationId: app, keys } })).data.importKeys;
const gateway = (secret: string) => s.forwardAuth({ 'x-api-key': secret });

describe('10,000 imported keys', () => {
  const secrets: string[] = [];

  it('import in batches of 1,000, and each secret verifies', async () => {
    for (let i = 0; i < 10_000; i++) secrets.push(issued());
    for (let start = 0; start < secrets.length; start += 1000) {
      const batch = secrets
        .slice(start, start + 1000)
        .map((secret, i) =>
          row(
            secret,
            `Legacy key ${start + i}`,
            i % 2 === 0 ? { hash: sha256(secret, 'base64'), hashAlgorithm: 'SHA256_BASE64' } : {},
          ),
        );
      expect(ok(await importKeys(batch))).toMatchObject({ imported: 1000, skipped: 0 });
    }
    const codes = new Map<number, number>();
    for (const secret of secrets) {
      const status = (await gateway(secret)).status;
      codes.set(status, (codes.get(status) ?? 0) + 1);
    }
    expect(Object.fromEntries(codes)).toEqual({ 200: 10_000 });
  }, 300_000);

  it('is idempotent: the same call again skips every key', async () => {
    const again = secrets.slice(0, 1000).map((secret, i) => row(secret, `Legacy key ${i}`));
    expect(ok(await importKeys(again))).toEqual({ __typename: 'ImportKeysPayload', imported: 0, skipped: 1000 });
    const count = await s.db.prisma.apiKey.count({ where: { imported: true } });
    expect(count).toBe(10_000);
  });

  it('a typo is NOT_FOUND, remembered; a string with no registered prefix is MALFORMED with no statement', async () => {
    const typo = `${secrets[0]!.slice(0, -1)}${secrets[0]!.endsWith('A') ? 'B' : 'A'}`;
    expect((await gateway(typo)).code).toBe('NOT_FOUND');
    const remembered = await s.db.countStatements(() => gateway(typo));
    expect(remembered.result.code).toBe('NOT_FOUND');
    expect(remembered.statements).toEqual([]);
    // (On PostgreSQL the key loader uses the pool directly: the engine's count of loads says it too.)
    const loads = s.server.verifier.stats.misses;
    const foreign = await s.db.countStatements(() => gateway(`pk_test_${randomBytes(24).toString('base64url')}`));
    expect(foreign.result.code).toBe('MALFORMED');
    expect(foreign.statements).toEqual([]);
    expect(s.server.verifier.stats.misses).toBe(loads);
    // Of Keygate's own length but neither a Keygate key nor a registered prefix: the same.
    const lookalike = await s.db.countStatements(() => gateway('zz_live_'.padEnd(KEY_LENGTH, 'x')));
    expect([lookalike.result.code, lookalike.statements.length, s.server.verifier.stats.misses]).toEqual([
      'MALFORMED',
      0,
      loads,
    ]);
  });

  it('verifies, rolls to a Keygate key, revokes and reports usage like any key', async () => {
    const secret = secrets[42]!;
    const hash = sha256(secret);
    const stored = await s.db.prisma.apiKey.findUniqueOrThrow({ where: { hash } });
    const id = Buffer.from(`ApiKey:${stored.id}`).toString('base64');
    const key = (await s.graphql(token, ApiKeyDocument, { id })).data.apiKey;
    expect(key).toMatchObject({ imported: true, prefix: secret.slice(0, 12), name: 'Legacy key 42' });
    const rolled = ok((await s.graphql(token, RollKeyDocument, { input: { id, gracePeriodSeconds: 0 } })).data.rollKey);
    expect(rolled.key.imported).toBe(false);
    expect(rolled.secret).toMatch(/^kg_live_/);
    expect((await gateway(secret)).code).toBe('EXPIRED');
    expect((await gateway(rolled.secret)).status).toBe(200);
    const other = secrets[43]!;
    const otherId = Buffer.from(
      `ApiKey:${(await s.db.prisma.apiKey.findUniqueOrThrow({ where: { hash: sha256(other) } })).id}`,
    ).toString('base64');
    ok((await s.graphql(token, RevokeKeyDocument, { input: { id: otherId } })).data.revokeKey);
    expect((await gateway(other)).code).toBe('REVOKED');
    await s.server.usage.flush();
    const used = await s.db.prisma.apiKey.findUniqueOrThrow({
      where: { hash: sha256(secrets[44]!) },
      include: { lastUse: true },
    });
    expect(used.lastUse?.at).toBeInstanceOf(Date);
  });
});

describe('a bad import', () => {
  it('rejects the whole call, naming each bad row’s path', async () => {
    const good = issued();
    const result = member(
      await importKeys([
        row(good, 'Fine'),
        { hash: 'not-a-hash', prefix: 'sk_live_abcd', name: 'Bad hash' },
        row(issued(), 'Unregistered', { prefix: 'rk_live_abcd' }),
        row(good, 'Twice'),
      ]),
      'ValidationError',
    );
    expect(result.issues.map((issue) => issue.path.join('.')).sort()).toEqual([
      'input.keys.1.hash',
      'input.keys.2.prefix',
      'input.keys.3.hash',
    ]);
    expect(result.issues.find((issue) => issue.path[2] === '3')?.message).toBe('the same key as keys.0');
    // A field createKey would refuse is refused with its path too.
    const named = member(await importKeys([row(good, 'Fine'), row(issued(), 'n'.repeat(101))]), 'ValidationError');
    expect(named.issues.map((issue) => issue.path.join('.'))).toEqual(['input.keys.1.name']);
    // Nothing was written: the good row is not a key either.
    expect((await gateway(good)).code).toBe('NOT_FOUND');
  });

  it('refuses more than 1,000 at once, and a hash that is a key elsewhere', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => row(issued(), `k${i}`));
    expect(member(await importKeys(many), 'ValidationError').issues[0]?.path).toEqual(['input', 'keys']);
    const globex = await s.merchantToken('globex');
    const theirs = ok(
      (await s.graphql(globex, CreateApplicationDocument, { input: { name: 'Theirs' } })).data.createApplication,
    ).application.id;
    ok(
      (await s.graphql(globex, RegisterImportPrefixDocument, { input: { prefix: 'sk_live_' } })).data
        .registerImportPrefix,
    );
    const shared = issued();
    ok(
      (await s.graphql(globex, ImportKeysDocument, { input: { applicationId: theirs, keys: [row(shared, 'Theirs')] } }))
        .data.importKeys,
    );
    const clash = member(await importKeys([row(shared, 'Mine')]), 'ValidationError');
    expect(clash.issues).toEqual([
      {
        path: ['input', 'keys', '0', 'hash'],
        message: 'a key with this hash exists elsewhere; it cannot be imported here',
      },
    ]);
    // Another merchant's application is not found, exactly like a missing one.
    const foreign = await s.graphql(token, ImportKeysDocument, {
      input: { applicationId: theirs, keys: [row(issued(), 'x')] },
    });
    expect(foreign.data.importKeys).toMatchObject({ __typename: 'NotFoundError', resource: 'Application' });
  });
});

describe('import prefixes', () => {
  it('are the merchant’s own, validated, audited, and kept while keys use them', async () => {
    const prefixes = (await s.graphql(token, ImportPrefixesDocument, {})).data.importPrefixes;
    expect(prefixes.map((p) => p.prefix)).toEqual(['sk_live_']);
    for (const bad of ['kg_live_', 'x', 'sk live', 'ø_']) {
      const refused = member(
        (await s.graphql(token, RegisterImportPrefixDocument, { input: { prefix: bad } })).data.registerImportPrefix,
        'ValidationError',
      );
      expect(refused.issues[0]?.path).toEqual(['input', 'prefix']);
    }
    const inUse = member(
      (await s.graphql(token, RemoveImportPrefixDocument, { input: { prefix: 'sk_live_' } })).data.removeImportPrefix,
      'ValidationError',
    );
    expect(inUse.issues[0]?.message).toMatch(/imported keys that are not revoked start with it/);
    // A prefix of its own, registered and removed: strings with it go from looked up to MALFORMED.
    ok((await s.graphql(token, RegisterImportPrefixDocument, { input: { prefix: 'ak_' } })).data.registerImportPrefix);
    const probe = `ak_${randomBytes(20).toString('hex')}`;
    expect((await gateway(probe)).code).toBe('NOT_FOUND');
    ok((await s.graphql(token, RemoveImportPrefixDocument, { input: { prefix: 'ak_' } })).data.removeImportPrefix);
    expect((await gateway(`ak_${randomBytes(20).toString('hex')}`)).code).toBe('MALFORMED');
    const trail = (await s.graphql(token, AuditEventsDocument, { first: 50 })).data.auditEvents.edges.map(
      (e) => e.node,
    );
    expect(trail.filter((e) => e.action === 'importKeys').length).toBeGreaterThanOrEqual(10);
    expect(trail.find((e) => e.action === 'importKeys')?.summary).toMatchObject({ prefixes: ['sk_live_'] });
    expect(trail.some((e) => e.action === 'removeImportPrefix')).toBe(true);
  });
});
