// One page of applications with their first keys loads in a constant number of
// SQL statements, whatever the page size (no N+1).
import { expect, test } from '../support/fixtures.ts';
import { createApplication, createKey, DASHBOARD } from '../support/operations.ts';

test('does not grow with the page size', async ({ h }) => {
  const acme = await h.as('acme');
  for (let i = 0; i < 50; i++) {
    const app = await createApplication(acme, `app ${i}`);
    for (let k = 0; k < (i % 4) + 1; k++) await createKey(acme, app.id, { name: `key ${k}` });
  }
  const counts: Record<number, number> = {};
  for (const first of [1, 5, 50]) {
    const { result, statements } = await h.db.countStatements(() => acme.gql(DASHBOARD, { first }));
    expect(result.applications.edges).toHaveLength(first);
    expect(result.applications.edges.every((e: any) => e.node.keys.edges.length === e.node.keys.totalCount)).toBe(true);
    counts[first] = statements.length;
  }
  // Statements are seen at all (a page of applications with keys takes a few).
  expect(counts[1]).toBeGreaterThanOrEqual(2);
  expect(counts[5]).toBe(counts[1]);
  expect(counts[50]).toBe(counts[1]);
  expect(counts[50]).toBeLessThanOrEqual(8);
});

test('a page of keys reads its usage in one statement, and costs what it returns', async ({ h }) => {
  const acme = await h.as('acme');
  const app = await createApplication(acme, 'Busy');
  for (let k = 0; k < 30; k++) await createKey(acme, app.id, { name: `key ${k}` });
  const query = `query($id: ID!, $first: Int!, $from: DateTime!, $to: DateTime!, $g: UsageGranularity) {
    application(id: $id) { keys(first: $first) { edges { node { id usage(from: $from, to: $to, granularity: $g) { start valid } } } } } }`;
  const day = { from: '2026-06-01T00:00:00Z', to: '2026-06-02T00:00:00Z', g: 'HOUR' };
  const counts: number[] = [];
  for (const first of [1, 30]) {
    const { result, statements } = await h.db.countStatements(() => acme.gql(query, { id: app.id, first, ...day }));
    expect(result.application.keys.edges).toHaveLength(first);
    expect(result.application.keys.edges.every((e: any) => e.node.usage.length === 24)).toBe(true);
    counts.push(statements.filter((sql) => /key_usage/.test(sql)).length);
  }
  expect(counts).toEqual([1, 1]);

  // Costed by its buckets: 30 keys × 24 hours fit; 8 aliases × 100 keys × 31 days of hours do not.
  const month = { from: '2026-06-01T00:00:00Z', to: '2026-07-02T00:00:00Z', g: 'HOUR' };
  const aliases = Array.from(
    { length: 8 },
    (_, i) => `a${i}: keys(first: 100) { edges { node { usage(from: $from, to: $to, granularity: $g) { valid } } } }`,
  ).join(' ');
  const heavy = await acme.request(
    `query($id: ID!, $from: DateTime!, $to: DateTime!, $g: UsageGranularity) { application(id: $id) { ${aliases} } }`,
    { id: app.id, ...month },
  );
  expect(heavy.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'cost' });
  // One key over the longest range still fits: the key page's chart asks for this.
  const one = await acme.request(
    `query($id: ID!, $from: DateTime!, $to: DateTime!) { application(id: $id) { keys(first: 1) { edges { node { usage(from: $from, to: $to) { valid } } } } } }`,
    { id: app.id, from: month.from, to: '2026-07-01T00:00:00Z' },
  );
  expect(one.errors).toBeUndefined();
});

test('a page of applications counts its keys in use in one statement, revoked keys left out', async ({ h }) => {
  const acme = await h.as('acme');
  const apps = [];
  for (let i = 0; i < 6; i++) {
    const app = await createApplication(acme, `counted ${i}`);
    for (let k = 0; k < i; k++) await createKey(acme, app.id, { name: `key ${k}` });
    apps.push(app);
  }
  const revoked = await createKey(acme, apps[0]!.id, { name: 'gone' });
  await acme.gql('mutation($id: ID!) { revokeKey(input: { id: $id }) { __typename } }', { id: revoked.key.id });
  // Another merchant's keys count for nobody else.
  const globex = await h.as('globex');
  await createKey(globex, (await createApplication(globex, 'theirs')).id, { name: 'x' });
  const query = '{ applications(first: 20) { edges { node { name keysInUse keyLimit } } } }';
  const { result, statements } = await h.db.countStatements(() => acme.gql(query));
  const counts = Object.fromEntries(
    result.applications.edges.map((e: { node: { name: string; keysInUse: number } }) => [
      e.node.name,
      e.node.keysInUse,
    ]),
  );
  expect(counts).toEqual({
    'counted 0': 0,
    'counted 1': 1,
    'counted 2': 2,
    'counted 3': 3,
    'counted 4': 4,
    'counted 5': 5,
  });
  expect(statements.filter((sql) => /"api_keys"/.test(sql) && /count/i.test(sql))).toHaveLength(1);
});
