import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { schema } from '@keygate/schema';
import { createApp } from '@keygate/server';
import { type DocumentNode, parse, print, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as sdk from '../../sdk/src/generated/graphql.ts';
import { LIMITS } from '../../server/src/abuse-limits.ts';
import { testAuth } from '../support/auth.ts';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';

let db: TestDatabase;
let token: string;
const apps: Record<string, ReturnType<typeof createApp>> = {};

beforeAll(async () => {
  db = await openTestDatabase();
  const { authenticate, settings, sign } = testAuth();
  apps.development = createApp({ prisma: db.prisma, authenticate, settings });
  apps.production = createApp({
    prisma: db.prisma,
    authenticate,
    settings,
    hideSuggestions: true,
    introspection: false,
  });
  token = await sign({ merchant_id: 'acme' });
});
afterAll(() => db.close());

async function send(query: string, app = apps.development!, body?: string) {
  const response = await app.fetch('http://keygate/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: body ?? JSON.stringify({ query }),
  });
  const text = await response.text();
  return { status: response.status, text, json: text.startsWith('{') ? JSON.parse(text) : null };
}

const nest = (depth: number): string =>
  depth === 0 ? 'id' : `application { keys(first: 1) { edges { node { ${nest(depth - 1)} } } } }`;

describe('refused documents', () => {
  it.each([
    ['too deep', `query { apiKey(id: "x") { ${nest(3)} } }`, /depth/i],
    [
      'too many aliases',
      `query { ${Array.from({ length: 16 }, (_, i) => `a${i}: viewer { id }`).join(' ')} }`,
      /aliases/i,
    ],
    ['too many directives', `query { viewer { id ${'@include(if: true) '.repeat(11)} } }`, /directives/i],
    ['too many tokens', `query { viewer { ${'id '.repeat(2100)} } }`, /token/i],
    [
      'too costly',
      `query { applications(first: 5) { edges { node { keys(first: 5) { edges { node { ${'name prefix status scopes access '.repeat(60)} ipRules { cidr action } } } } } } } }`,
      /cost/i,
    ],
  ])('%s', async (_name, query, message) => {
    const { statements, result } = await db.countStatements(() => send(query));
    expect(result.json.data ?? null).toBeNull();
    expect(result.json.errors[0].message).toMatch(message);
    expect(result.text).not.toContain('INTERNAL_SERVER_ERROR');
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
    expect(documents.length).toBe(14);
  });

  it.each(documents)('%s stays under every limit', (_name, document) => {
    const text = print(document);
    expect(() => parse(text, { maxTokens: LIMITS.tokens })).not.toThrow();
    const errors = validate(schema, parse(text), [
      maxDepthRule({ n: LIMITS.depth, flattenFragments: true }),
      maxAliasesRule({ n: LIMITS.aliases }),
      maxDirectivesRule({ n: LIMITS.directives }),
      costLimitRule({ maxCost: LIMITS.cost }),
    ]);
    expect(errors.map((e) => e.message)).toEqual([]);
  });
});
