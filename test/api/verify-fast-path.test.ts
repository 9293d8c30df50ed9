import { generateKey } from '@keygate/core';
import { createApp } from '@keygate/server/graphql';
import { createKeyLoader, createMeterStore, KeyCache, Meter, Verifier } from '@keygate/server/verification';
import { noKeyChanges } from '@keygate/services';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAuth } from '../support/auth.ts';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';

let db: TestDatabase;
let normal: ReturnType<typeof createApp>;
let fastOnly: ReturnType<typeof createApp>;
let both: ReturnType<typeof createApp>;
let serviceToken: string;
let merchantToken: string;
const secrets: Record<string, string> = {};

beforeAll(async () => {
  db = await openTestDatabase();
  const { authenticate, settings, sign } = testAuth();
  const verifier = new Verifier(
    createKeyLoader(db.prisma),
    new KeyCache({ maxKeys: 100, maxMisses: 100, ttlMs: 60_000 }),
    null,
    null,
    Date.now,
    new Meter(createMeterStore(db.prisma), null),
  );
  normal = createApp({
    keyChanges: noKeyChanges,
    prisma: db.prisma,
    authenticate,
    settings,
    verifier,
  });
  // No verifier behind the normal path: whatever succeeds here was answered by the fast path.
  fastOnly = createApp({
    keyChanges: noKeyChanges,
    prisma: db.prisma,
    authenticate,
    settings,
    fastVerifier: verifier,
  });
  both = createApp({
    keyChanges: noKeyChanges,
    prisma: db.prisma,
    authenticate,
    settings,
    verifier,
    fastVerifier: verifier,
  });
  serviceToken = await sign({ keygate_role: 'verifier' });
  merchantToken = await sign({ merchant_id: 'acme' });

  await db.prisma.merchant.create({ data: { id: 'acme' } });
  const app = await db.prisma.application.create({ data: { merchantId: 'acme', name: 'a', normalizedName: 'a' } });
  const make = async (name: string, data: Record<string, unknown> = {}) => {
    const key = generateKey('live');
    secrets[name] = key.secret;
    return db.prisma.apiKey.create({
      data: {
        merchantId: 'acme',
        applicationId: app.id,
        name,
        prefix: key.prefix,
        hash: key.hash,
        access: 'READ_ONLY',
        environment: 'LIVE',
        ...data,
      },
    });
  };
  const owner = await db.prisma.identity.create({
    data: { merchantId: 'acme', externalId: 'org 9/ø', metadata: { tier: 'gold', seats: [3] } },
  });
  await make('valid', {
    access: 'FULL_ACCESS',
    scopes: ['orders:*'],
    metadata: { plan: 'pro', seats: [1, 2], nested: { ok: true } },
    externalId: 'cus_9',
    identityId: owner.id,
  });
  await make('revoked', { revokedAt: new Date() });
  const limited = await make('limited');
  await db.prisma.ipRule.create({ data: { keyId: limited.id, position: 0, cidr: '203.0.113.0/24', action: 'DENY' } });
  // Metered, and its one-per-30-days limit used up at once: every answer after the first is the same.
  await make('metered', {
    creditsRemaining: 50,
    rateLimits: [
      { name: 'monthly', limit: 1, windowSeconds: 2_592_000 },
      { name: 'per-second', limit: 1000, windowSeconds: 1 },
    ],
  });
  expect((await verifier.verify({ key: secrets.metered! })).code).toBe('VALID');
  expect((await verifier.verify({ key: secrets.metered! })).code).toBe('RATE_LIMITED');
});
afterAll(() => db.close());

async function send(
  app: ReturnType<typeof createApp>,
  query: string,
  variables: unknown,
  token: string | null,
  operationName?: string,
) {
  const response = await app.fetch('http://keygate/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables, operationName }),
  });
  return `${response.status} ${await response.text()}`;
}

const ALL =
  'valid code keyId prefix applicationId merchantId environment access scopes metadata externalId identity { id externalId metadata } __typename';
const eligible: [string, string, (s: typeof secrets) => unknown, string?][] = [
  [
    'variables, every field',
    `mutation V($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { ${ALL} } } }`,
    (s) => ({ input: { key: s.valid, requiredAccess: 'FULL_ACCESS', requiredScopes: ['orders:write'] } }),
  ],
  [
    'aliases, duplicates, union and error fragments',
    `mutation ($input: VerifyKeyInput!) { check: verifyKey(input: $input) { __typename t: __typename ... on VerifyKeyResult { __typename } ... on KeyVerification { ok: valid valid valid why: code } ... on ValidationError { issues { path } } ... on Error { message } } }`,
    (s) => ({ input: { key: s.valid } }),
  ],
  [
    'the identity, with aliases and a typename',
    `mutation ($a: String!) { verifyKey(input: { key: $a }) { ... on KeyVerification { owner: identity { __typename theirId: externalId id } identity { metadata } } } }`,
    (s) => ({ a: s.valid }),
  ],
  [
    'the identity of a key without one',
    `mutation ($b: String!) { verifyKey(input: { key: $b }) { ... on KeyVerification { identity { id } } } }`,
    (s) => ({ b: s.limited }),
  ],
  [
    'literal input',
    `mutation { verifyKey(input: { key: "${'{{valid}}'}", requiredAccess: FULL_ACCESS, requiredScopes: ["orders:read", "orders:write"] }) { ... on KeyVerification { valid code scopes } } }`,
    () => ({}),
  ],
  [
    'mixed literal and variables',
    `mutation ($k: String!, $ip: String) { verifyKey(input: { key: $k, ip: $ip }) { ... on KeyVerification { valid code } } }`,
    (s) => ({ k: s.limited, ip: '203.0.113.5' }),
  ],
  [
    'a permission expression the key satisfies',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid code } } }`,
    (s) => ({ input: { key: s.valid, requiredPermissions: 'billing:read OR (orders:write AND orders:read)' } }),
  ],
  [
    'a permission expression the key does not satisfy',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid code } } }`,
    (s) => ({ input: { key: s.valid, requiredPermissions: 'billing:read AND refunds:write' } }),
  ],
  [
    'a single scope where a list goes',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid code } } }`,
    (s) => ({ input: { key: s.valid, requiredScopes: 'billing:read' } }),
  ],
  [
    'metered: credits and rate limits, with a literal cost',
    `mutation ($k: String!) { verifyKey(input: { key: $k, cost: 2 }) { ... on KeyVerification { valid code creditsRemaining retryAfterSeconds rateLimits { name limit left: remaining resetAt exceeded __typename } } } }`,
    (s) => ({ k: s.metered }),
  ],
  [
    'metered: a cost from the variables, an unmetered key',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid creditsRemaining rateLimits { name } } } }`,
    (s) => ({ input: { key: s.valid, cost: 0 } }),
  ],
  [
    'revoked',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { ${ALL} } } }`,
    (s) => ({ input: { key: s.revoked } }),
  ],
  [
    'unknown',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { ${ALL} } } }`,
    () => ({ input: { key: generateKey('test').secret } }),
  ],
  [
    'malformed',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid code } } }`,
    () => ({ input: { key: 'kg_live_oops' } }),
  ],
  [
    'IPv6 and mapped addresses',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid code } } }`,
    (s) => ({ input: { key: s.limited, ip: '::FFFF:203.0.113.9' } }),
  ],
  [
    'one of several operations',
    `query Q { viewer { merchantId } } mutation M($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid } } }`,
    (s) => ({ input: { key: s.valid } }),
    'M',
  ],
];

const render = (query: string) => query.replace('{{valid}}', secrets.valid!);

describe('answers exactly as normal execution', () => {
  it.each(eligible)('%s', async (_name, query, variables, operationName) => {
    // Answers carry times to the second (resetAt, retryAfterSeconds): compare
    // a pair sent within one wall-clock second, sending again if a second
    // boundary fell between the two.
    let fast = '';
    let slow = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const second = Math.floor(Date.now() / 1000);
      fast = await send(fastOnly, render(query), variables(secrets), serviceToken, operationName);
      slow = await send(normal, render(query), variables(secrets), serviceToken, operationName);
      if (Math.floor(Date.now() / 1000) === second) break;
    }
    expect(fast).toBe(slow);
    expect(fast).toMatch(/^200 \{"data":/);
    expect(fast).not.toContain('errors');
  });
});

const fallbacks: [string, string, (s: typeof secrets) => unknown, 'service' | 'merchant' | 'none'][] = [
  [
    'a merchant token',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid code } } }`,
    (s) => ({ input: { key: s.valid } }),
    'merchant',
  ],
  [
    'no token',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid } } }`,
    (s) => ({ input: { key: s.valid } }),
    'none',
  ],
  [
    'an invalid address',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid } ... on ValidationError { issues { path message } } } }`,
    (s) => ({ input: { key: s.valid, ip: '1.2.3' } }),
    'service',
  ],
  [
    'an invalid scope',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on ValidationError { issues { path message } } } }`,
    (s) => ({ input: { key: s.valid, requiredScopes: ['no spaces'] } }),
    'service',
  ],
  [
    'a malformed permission expression',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on ValidationError { issues { path message } } } }`,
    (s) => ({ input: { key: s.valid, requiredPermissions: 'orders:read AND (' } }),
    'service',
  ],
  [
    'an unknown input field',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid } } }`,
    (s) => ({ input: { key: s.valid, extra: 1 } }),
    'service',
  ],
  [
    'a missing key',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid } } }`,
    () => ({ input: { key: null } }),
    'service',
  ],
  [
    'a wrongly typed access',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ... on KeyVerification { valid } } }`,
    (s) => ({ input: { key: s.valid, requiredAccess: 'ALL' } }),
    'service',
  ],
  [
    'a fragment spread',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { ...F } } fragment F on KeyVerification { valid }`,
    (s) => ({ input: { key: s.valid } }),
    'service',
  ],
  [
    'a directive',
    `mutation ($input: VerifyKeyInput!, $yes: Boolean!) { verifyKey(input: $input) { ... on KeyVerification { valid @include(if: $yes) code } } }`,
    (s) => ({ input: { key: s.valid }, yes: false }),
    'service',
  ],
  [
    'an invalid document',
    `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { nope } }`,
    (s) => ({ input: { key: s.valid } }),
    'service',
  ],
];

describe('leaves everything else to normal execution', () => {
  it.each(fallbacks)('%s', async (_name, query, variables, who) => {
    const token = who === 'service' ? serviceToken : who === 'merchant' ? merchantToken : null;
    // Had the fast path answered any of these, it would differ from normal execution here.
    expect(await send(both, query, variables(secrets), token)).toBe(
      await send(normal, query, variables(secrets), token),
    );
  });
});

describe('fuzzed verifyKey input', () => {
  const RUNS = Number(process.env.KEYGATE_FUZZ_RUNS ?? 300);
  const text = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 40 }));
  const wrongType = fc.oneof(fc.integer(), fc.boolean(), fc.constant([]), fc.constant({}));
  const maybe = <T>(value: fc.Arbitrary<T>) =>
    fc.oneof({ weight: 4, arbitrary: value }, fc.constant(null), fc.constant(undefined), wrongType);
  const key = fc.oneof(
    fc.constantFrom('valid', 'revoked', 'limited').map((name) => secrets[name]!),
    // One character changed: the checksum catches it before any lookup.
    fc
      .tuple(fc.constantFrom('valid', 'limited'), fc.nat(), fc.constantFrom('a', 'Z', '0', '_'))
      .map(([name, at, c]) => {
        const secret = secrets[name]!;
        const i = at % secret.length;
        return secret.slice(0, i) + c + secret.slice(i + 1);
      }),
    fc.constant(null).map(() => generateKey('test').secret),
    text,
    wrongType,
  );
  const input = fc.record(
    {
      key,
      ip: maybe(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant('::ffff:203.0.113.7'), text)),
      requiredAccess: maybe(fc.constantFrom('READ_ONLY', 'FULL_ACCESS', 'ALL')),
      requiredScopes: maybe(fc.oneof(fc.array(fc.oneof(fc.stringMatching(/^[a-z]{1,8}:[a-z*]{1,8}$/), text)), text)),
      // Mostly absent, as in most calls (any malformed field sends the whole input to normal
      // execution, and the fast path must still answer a good share), else mostly well-formed.
      requiredPermissions: fc.oneof(
        { weight: 6, arbitrary: fc.constant(undefined) },
        {
          weight: 3,
          arbitrary: fc.stringMatching(/^[a-z]{1,6}:[a-z*]{1,6}( (AND|OR|and) [a-z]{1,6}:[a-z*]{1,6}){0,3}$/),
        },
        { weight: 1, arbitrary: fc.oneof(text, wrongType) },
      ),
    },
    { requiredKeys: [] },
  );
  const query = `mutation ($input: VerifyKeyInput!) { verifyKey(input: $input) { __typename ... on KeyVerification { ${ALL} } ... on Error { errorCode: code message } ... on ValidationError { issues { path message } } } }`;

  it('answers a service token exactly as normal execution would, and never with an internal error', async () => {
    let answeredByFastPath = 0;
    await fc.assert(
      fc.asyncProperty(input, async (value) => {
        const fast = await send(both, query, { input: value }, serviceToken);
        expect(fast).toBe(await send(normal, query, { input: value }, serviceToken));
        // A typed answer, or a 400 for variables of the wrong type: never anything else.
        expect(fast).toMatch(/^(200 \{"data":\{"verifyKey":\{"__typename":"(KeyVerification|ValidationError)"|400 )/);
        expect(fast).not.toMatch(/INTERNAL_SERVER_ERROR|Unexpected error/);
        // fastOnly has no verifier behind normal execution: a verification from it came from the fast path.
        const fastOnlyAnswer = await send(fastOnly, query, { input: value }, serviceToken);
        if (fastOnlyAnswer.includes('"__typename":"KeyVerification"')) {
          expect(fastOnlyAnswer).toBe(fast);
          answeredByFastPath++;
        }
      }),
      { numRuns: RUNS },
    );
    // Many fuzzed inputs are well-formed: the fast path must have answered a good share of them.
    expect(answeredByFastPath).toBeGreaterThan(RUNS / 10);
  });

  it('answers a merchant token without an internal error', async () => {
    await fc.assert(
      fc.asyncProperty(input, async (value) => {
        const answer = await send(both, query, { input: value }, merchantToken);
        expect(answer).toMatch(/^(200 \{"data":\{"verifyKey":\{"__typename":"(KeyVerification|ValidationError)"|400 )/);
        expect(answer).not.toMatch(/INTERNAL_SERVER_ERROR|Unexpected error/);
      }),
      { numRuns: RUNS },
    );
  });
});
