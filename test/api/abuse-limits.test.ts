import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import * as sdk from '@keygate/sdk/documents';
import { createApp, LIMITS, measure, measureOperation, schema } from '@keygate/server/graphql';
import { noKeyChanges } from '@keygate/services';
import { type DocumentNode, Kind, parse, print, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAuth } from '../support/auth.ts';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';

let db: TestDatabase;
let token: string;
const apps: Record<string, ReturnType<typeof createApp>> = {};

beforeAll(async () => {
  db = await openTestDatabase();
  const { authenticate, settings, sign } = testAuth();
  apps.development = createApp({
    keyChanges: noKeyChanges,
    prisma: db.prisma,
    authenticate,
    settings,
  });
  apps.production = createApp({
    keyChanges: noKeyChanges,
    prisma: db.prisma,
    authenticate,
    settings,
    hideSuggestions: true,
    introspection: false,
  });
  token = await sign({ merchant_id: 'acme' });
  // The merchant's row is written on its first request; refused ones must write nothing after it.
  await send('{ viewer { id } }');
});
afterAll(() => db.close());

async function send(
  query: string,
  app = apps.development!,
  body?: string,
  accept = 'application/graphql-response+json, application/json',
) {
  const response = await app.fetch('http://keygate/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${token}` },
    body: body ?? JSON.stringify({ query }),
  });
  const text = await response.text();
  return { status: response.status, text, json: text.startsWith('{') ? JSON.parse(text) : null };
}

const nest = (depth: number): string =>
  depth === 0 ? 'id' : `application { keys(first: 1) { edges { node { ${nest(depth - 1)} } } } }`;

const variablesOf = (query: string, variables: Record<string, unknown>) => JSON.stringify({ query, variables });
const aliased = (count: number, body: string) =>
  `query($n: Int) { ${Array.from({ length: count }, (_, i) => `a${i}: ${body}`).join(' ')} }`;
const PAGE_OF_PAGES =
  'applications(first: $n) { edges { node { keys(first: $n) { edges { node { id name status } } } } } }';

describe('refused documents', () => {
  it.each([
    ['too deep', `query { apiKey(id: "x") { ${nest(3)} } }`, 'depth', /depth limit of 10 exceeded/i],
    [
      'too many aliases',
      `query { ${Array.from({ length: 16 }, (_, i) => `a${i}: viewer { id }`).join(' ')} }`,
      'aliases',
      /aliases limit of 15 exceeded/i,
    ],
    [
      'too many directives',
      `query { viewer { id ${'@include(if: true) '.repeat(11)} } }`,
      'directives',
      /directives limit of 10/i,
    ],
    ['too many tokens', `query { viewer { ${'id '.repeat(2100)} } }`, 'tokens', /token limit of 2000/i],
    [
      'too costly with literal page sizes',
      `query { applications(first: 100) { edges { node { keys(first: 100) { edges { node { id } } } } } } }`,
      'cost',
      /about 10201 objects, at most 5000/,
    ],
  ])('%s: QUERY_TOO_COMPLEX, 400, nothing run', async (_name, query, limit, message) => {
    const { statements, result } = await db.countStatements(() => send(query));
    expect(result.status).toBe(400);
    expect(result.json.data ?? null).toBeNull();
    const [error] = result.json.errors;
    expect(error.message).toMatch(/^Query too complex: /);
    expect(error.message).toMatch(message);
    expect(error.message).not.toMatch(/syntax/i);
    expect(error.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit, max: LIMITS[limit as 'cost'] });
    expect(statements).toEqual([]);
  });

  it('answers legacy application/json clients with 200 and the same error', async () => {
    const result = await send(
      `query { ${nest(0)} apiKey(id: "x") { ${nest(3)} } }`,
      apps.development,
      undefined,
      'application/json',
    );
    expect(result.status).toBe(200);
    expect(result.json.errors[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
  });

  it('computes the cost with the request’s variables, as every client sends page sizes', async () => {
    const query = `query($n: Int) { ${PAGE_OF_PAGES} }`;
    const { statements, result } = await db.countStatements(() =>
      send('', apps.development, variablesOf(query, { n: 100 })),
    );
    expect(result.status).toBe(400);
    expect(result.json.errors[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
    expect(statements).toEqual([]);
    // The same document with small pages runs.
    const small = await send('', apps.development, variablesOf(query, { n: 5 }));
    expect([small.status, small.json.errors]).toEqual([200, undefined]);
  });

  it('refuses 15 aliases of 100 × 100 and runs a dashboard page of 25 applications × 25 keys', async () => {
    const attack = await send('', apps.development, variablesOf(aliased(15, PAGE_OF_PAGES), { n: 100 }));
    expect(attack.json.errors[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
    const dashboard = `query { applications(first: 25) { totalCount edges { node { id name enabled
      keys(first: 25) { totalCount edges { node { id name prefix status lastUsedAt ipRules { cidr action } } } } } } } }`;
    const page = await send(dashboard);
    expect([page.status, page.json.errors]).toEqual([200, undefined]);
    // And the cost model says so with room to spare, also for the example in the issue (10 × 10).
    const cost = (query: string) => measureOperation(schema, parse(query), null, {}, 100)!.cost;
    expect(cost(dashboard)).toBeLessThan(LIMITS.cost);
    expect(cost(`{ ${PAGE_OF_PAGES.replaceAll('$n', '10')} }`)).toBe(1 + 10 + 10 + 100);
  });

  it.each([
    ['first: 1000 selecting only totalCount', '{ applications(first: 1000) { totalCount } }', {}],
    ['last: 101 as a variable', 'query($n: Int) { applications(last: $n) { totalCount } }', { n: 101 }],
    [
      'a nested page above the limit',
      'query($n: Int) { applications(first: 1) { edges { node { keys(first: $n) { totalCount } } } } }',
      { n: 500 },
    ],
  ])('refuses a page above the largest: %s', async (_name, query, variables) => {
    const { statements, result } = await db.countStatements(() =>
      send('', apps.development, variablesOf(query, variables)),
    );
    expect(result.status).toBe(400);
    expect(result.json.errors[0].message).toMatch(/must be at most 100/);
    expect(result.json.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(statements).toEqual([]);
  });

  it('refuses oversized request bodies with 413', async () => {
    const huge = JSON.stringify({ query: '{ viewer { id } }', variables: { padding: 'x'.repeat(LIMITS.body) } });
    const { status } = await send('', apps.development, huge);
    expect(status).toBe(413);
  });

  it('hides field suggestions and introspection where configured (production)', async () => {
    const typo = '{ viewr { id } }';
    expect((await send(typo)).json.errors[0].message).toContain('Did you mean');
    const hidden = await send(typo, apps.production);
    expect(hidden.json.errors[0].message).not.toContain('Did you mean');
    expect(hidden.json.errors[0].message).not.toContain('viewer');
    const introspection = '{ __schema { types { name } } }';
    expect((await send(introspection)).json.data.__schema.types.length).toBeGreaterThan(10);
    expect((await send(introspection, apps.production)).json.errors[0].message).toMatch(/introspection/i);
  });
});

describe('the SDK’s operations', () => {
  const documents = Object.entries(sdk).filter(([name]) => name.endsWith('Document')) as [string, DocumentNode][];

  it('are all checked here', () => {
    expect(documents.length).toBe(49);
  });

  it.each(documents)('%s stays under every limit, with the largest pages', (_name, document) => {
    const text = print(document);
    expect(() => parse(text, { maxTokens: LIMITS.tokens })).not.toThrow();
    const errors = validate(schema, parse(text), [
      maxDepthRule({ n: LIMITS.depth, flattenFragments: true }),
      maxAliasesRule({ n: LIMITS.aliases }),
      maxDirectivesRule({ n: LIMITS.directives }),
    ]);
    expect(errors.map((e) => e.message)).toEqual([]);
    // Every Int variable at the largest page size: the worst a client of the SDK can send.
    const operation = document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION)!;
    const largest = Object.fromEntries(
      operation.variableDefinitions?.filter((v) => print(v.type) === 'Int').map((v) => [v.variable.name.value, 100]) ??
        [],
    );
    const measured = measure(schema, document, operation, largest, 100);
    expect(measured?.oversizedPage).toBeNull();
    expect(measured?.cost).toBeLessThanOrEqual(LIMITS.cost);
  });
});
