// Property-based fuzzing of every mutation's input through GraphQL: whatever
// arrives, the answer is a typed result or a clear GraphQL error — never an
// internal (masked) error — and nothing invalid is ever stored. verifyKey, which
// stores nothing, is fuzzed in verify-fast-path.test.ts, against both of its paths.
import { globalId, normalizeName, parseCidr } from '@keygate/core';
import fc from 'fast-check';
import { expect, test } from '../support/fixtures.ts';
import type { Document, Harness } from '../support/harness.ts';
import {
  CREATE_APPLICATION,
  CREATE_KEY,
  createApplication,
  createKey,
  EDIT_KEY,
  REVOKE_KEY,
  SET_APPLICATION_ENABLED,
  SET_IP_RULES,
  UPDATE_APPLICATION,
} from '../support/operations.ts';

const RUNS = Number(process.env.KEYGATE_FUZZ_RUNS ?? 300);
let client: Awaited<ReturnType<Harness['as']>>;
let appIds: string[];
let keyIds: string[];

test.override({ harnessOptions: { maxKeysPerApplication: 1000, fresh: false } });

test.beforeAll(async ({ h }) => {
  client = await h.as('fuzzer');
  const apps = [await createApplication(client, 'Fuzz one'), await createApplication(client, 'Fuzz two')];
  appIds = apps.map((a) => a.id);
  keyIds = [(await createKey(client, appIds[0]!)).key.id, (await createKey(client, appIds[1]!)).key.id];
  const other = await h.as('someone-else');
  const foreignApp = await createApplication(other, 'Not yours');
  appIds.push(foreignApp.id);
  keyIds.push((await createKey(other, foreignApp.id)).key.id);
});

const text = fc.oneof(
  fc.string({ maxLength: 120 }),
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.constantFrom(
    '',
    ' ',
    '   padded   ',
    'x'.repeat(100),
    'x'.repeat(101),
    'a\u0000b',
    'line\nbreak',
    '%_\\',
    'ＳＴＡＧＩＮＧ',
    '🔑'.repeat(60),
    // Lone UTF-16 surrogates: no character at all; a ValidationError, never an internal error.
    'lone \ud800',
    '\udc00',
    '🔑'.slice(0, 1),
  ),
);
const wrongType = fc.oneof(fc.integer(), fc.boolean(), fc.constant([]), fc.constant({}));
const maybe = <T>(value: fc.Arbitrary<T>) => fc.oneof(value, fc.constant(null), fc.constant(undefined), wrongType);
const id = (existing: () => string[], type: 'Application' | 'ApiKey') =>
  fc.oneof(
    fc.constantFrom(0, 1, 2).map((i) => existing()[i]!),
    fc.uuid().map((uuid) => globalId(type, uuid)),
    fc.uuid().map((uuid) => globalId(type === 'Application' ? 'ApiKey' : 'Application', uuid)),
    text,
    wrongType,
  );
const date = fc.oneof(
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.integer({ min: 1, max: 10 ** 7 }).map((s) => new Date(Date.now() + s * 1000).toISOString()),
  text,
);
const url = fc.oneof(
  fc.webUrl(),
  fc.constantFrom('ftp://x', 'javascript:alert(1)', 'http://', 'https://a.b/\u0000', 'http://[::1]/'),
  text,
);
const scopes = maybe(fc.array(fc.oneof(fc.stringMatching(/^[a-z]{1,10}:[a-z*]{1,10}$/), text), { maxLength: 60 }));
const cidr = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: -1, max: 200 })).map(([ip, n]) => `${ip}/${n}`),
  text,
);
const action = maybe(fc.constantFrom('ALLOW', 'DENY', 'MAYBE'));
const access = maybe(fc.constantFrom('READ_ONLY', 'FULL_ACCESS', 'ROOT'));

// Mostly plausible values, so that many inputs pass and get stored (and the stored data can be checked).
const plausibleName = fc.string({ minLength: 1, maxLength: 110, unit: 'grapheme' });
const own = (existing: () => string[]) => fc.constantFrom(0, 1).map((i) => existing()[i]!);
const futureDate = fc.integer({ min: 60, max: 10 ** 8 }).map((s) => new Date(Date.now() + s * 1000).toISOString());
const plausible = {
  application: fc.record({
    name: plausibleName,
    description: fc.option(fc.string({ maxLength: 510 }), { nil: undefined }),
  }),
  key: fc.record({
    applicationId: own(() => appIds),
    name: plausibleName,
    websiteUrl: fc.option(fc.webUrl(), { nil: undefined }),
    access: fc.option(fc.constantFrom('READ_ONLY', 'FULL_ACCESS'), { nil: undefined }),
    scopes: fc.option(fc.array(fc.stringMatching(/^[a-z]{1,8}:[a-z*]{1,8}$/), { maxLength: 5 }), { nil: undefined }),
    expiresAt: fc.option(futureDate, { nil: undefined }),
  }),
  rules: fc.record({
    keyId: own(() => keyIds),
    rules: fc.array(fc.record({ cidr: fc.oneof(fc.ipV4(), fc.ipV6()), action: fc.constantFrom('ALLOW', 'DENY') }), {
      maxLength: 5,
    }),
  }),
};
const mostly = <T, U>(valid: fc.Arbitrary<T>, fuzzed: fc.Arbitrary<U>) =>
  fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: fuzzed });

const mutations: [string, Document<unknown, never>, fc.Arbitrary<unknown>][] = [
  [
    'createApplication',
    CREATE_APPLICATION,
    mostly(plausible.application, fc.record({ name: maybe(text), description: maybe(text) })),
  ],
  [
    'updateApplication',
    UPDATE_APPLICATION,
    fc.record({ id: id(() => appIds, 'Application'), name: maybe(text), description: maybe(text) }),
  ],
  [
    'setApplicationEnabled',
    SET_APPLICATION_ENABLED,
    fc.record({ id: id(() => appIds, 'Application'), enabled: maybe(fc.boolean()) }),
  ],
  [
    'createKey',
    CREATE_KEY,
    mostly(
      plausible.key,
      fc.record({
        applicationId: id(() => appIds, 'Application'),
        name: maybe(text),
        websiteUrl: maybe(url),
        access,
        scopes,
        environment: maybe(fc.constantFrom('LIVE', 'TEST', 'PROD')),
        expiresAt: maybe(date),
      }),
    ),
  ],
  [
    'editKey',
    EDIT_KEY,
    fc.record({
      id: id(() => keyIds, 'ApiKey'),
      name: maybe(text),
      websiteUrl: maybe(url),
      access,
      scopes,
      expiresAt: maybe(date),
    }),
  ],
  [
    'setIpRules',
    SET_IP_RULES,
    mostly(
      plausible.rules,
      fc.record({
        keyId: id(() => keyIds, 'ApiKey'),
        rules: maybe(fc.array(fc.record({ cidr: maybe(cidr), action }), { maxLength: 110 })),
        defaultAction: action,
      }),
    ),
  ],
  ['revokeKey', REVOKE_KEY, fc.record({ id: id(() => keyIds, 'ApiKey') })],
];

test.for(mutations)('%s never answers with an internal error', async ([_name, document, input]) => {
  await fc.assert(
    fc.asyncProperty(input, async (value) => {
      const response = await client.request(document, { input: value });
      expect(response.status).toBeLessThan(500);
      expect(response.raw).not.toContain('INTERNAL_SERVER_ERROR');
      expect(response.raw).not.toContain('Unexpected error');
    }),
    { numRuns: RUNS },
  );
});

/** Characters as the rules (zod) and PostgreSQL's VARCHAR count them: code points. */
const chars = (text: string) => [...text].length;

test('stored nothing that breaks the input rules', async ({ h }) => {
  const apps = await h.db.prisma.application.findMany();
  for (const app of apps) {
    expect(app.name).toBe(app.name.trim());
    expect(chars(app.name)).toBeGreaterThan(0);
    expect(chars(app.name)).toBeLessThanOrEqual(100);
    expect(app.name).not.toMatch(/\p{Cc}/u);
    expect(app.normalizedName).toBe(normalizeName(app.name));
    expect(chars(app.description ?? '')).toBeLessThanOrEqual(500);
  }
  const keys = await h.db.prisma.apiKey.findMany({ include: { ipRules: true } });
  // Most of the fuzzed creations were plausible: many must have been stored, and checked below.
  expect(keys.length).toBeGreaterThan(50);
  expect(apps.length).toBeGreaterThan(50);
  for (const key of keys) {
    expect(chars(key.name)).toBeGreaterThan(0);
    expect(chars(key.name)).toBeLessThanOrEqual(100);
    expect(key.name).not.toMatch(/\p{Cc}/u);
    if (key.websiteUrl !== null) expect(['http:', 'https:']).toContain(new URL(key.websiteUrl).protocol);
    expect(key.scopes.length).toBeLessThanOrEqual(50);
    for (const scope of key.scopes) expect(scope).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.:*-]{0,63}$/);
    expect(key.ipRules.length).toBeLessThanOrEqual(100);
    for (const rule of key.ipRules) {
      const parsed = parseCidr(rule.cidr);
      expect(parsed.ok && parsed.value.cidr).toBe(rule.cidr);
    }
  }
});
