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
