// Cursor pagination: every item exactly once, in a stable order, both ways,
// also while items are created between pages.
import { describe, expect, test } from '../support/fixtures.ts';
import type { Harness } from '../support/harness.ts';
import { APPLICATION_KEYS, APPLICATIONS, createApplication, createKey } from '../support/operations.ts';

test.override({ harnessOptions: { maxPageSize: 50 } });

type Client = Awaited<ReturnType<Harness['as']>>;

async function walk(
  client: Client,
  direction: 'forward' | 'backward',
  pageSize: number,
  between?: (page: number) => Promise<void>,
) {
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const variables: Record<string, unknown> =
      direction === 'forward' ? { first: pageSize, after: cursor } : { last: pageSize, before: cursor };
    const { applications }: any = await client.gql(APPLICATIONS, variables);
    const names = applications.edges.map((e: any) => e.node.name);
    seen.push(...(direction === 'forward' ? names : names.reverse()));
    const more = direction === 'forward' ? applications.pageInfo.hasNextPage : applications.pageInfo.hasPreviousPage;
    if (!more) return seen;
    cursor = direction === 'forward' ? applications.pageInfo.endCursor : applications.pageInfo.startCursor;
    await between?.(page);
  }
  throw new Error('pagination did not end');
}

describe('applications', () => {
  test('walks forward and backward over every item exactly once, newest first', async ({ h }) => {
    const acme = await h.as('acme');
    const names = [];
    for (let i = 0; i < 23; i++) names.push((await createApplication(acme, `app ${String(i).padStart(2, '0')}`)).name);
    const newestFirst = [...names].reverse();
    for (const size of [1, 5, 7, 23, 50]) {
      expect(await walk(acme, 'forward', size)).toEqual(newestFirst);
      expect(await walk(acme, 'backward', size)).toEqual(names);
    }
  });

  test('visits each existing item once while new ones are created between pages', async ({ h }) => {
    const acme = await h.as('acme');
    const existing = [];
    for (let i = 0; i < 12; i++) existing.push((await createApplication(acme, `old ${i}`)).name);
    let created = 0;
    const insert = async () => {
      await createApplication(acme, `new ${created++}`);
    };
    const forward = await walk(acme, 'forward', 4, insert);
    expect(forward.filter((n) => n.startsWith('old'))).toEqual([...existing].reverse());
    expect(new Set(forward).size).toBe(forward.length);

    const backward = await walk(acme, 'backward', 4, insert);
    expect(new Set(backward).size).toBe(backward.length);
    expect(backward.filter((n) => n.startsWith('old'))).toEqual(existing);
    // Walking backward from the end moves towards the newest items, so it also meets those created meanwhile.
    expect(backward.filter((n) => n.startsWith('new')).length).toBeGreaterThan(0);
  });

  test('reports page boundaries and rejects malformed cursors and oversized pages clearly', async ({ h }) => {
    const acme = await h.as('acme');
    for (let i = 0; i < 3; i++) await createApplication(acme, `a${i}`);
    const first = await acme.gql(APPLICATIONS, { first: 2 });
    expect(first.applications.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const second = await acme.gql(APPLICATIONS, { first: 2, after: first.applications.pageInfo.endCursor });
    expect(second.applications.pageInfo).toMatchObject({ hasNextPage: false });
    expect(second.applications.edges).toHaveLength(1);

    for (const after of ['garbage', Buffer.from('GPC:S:not-a-uuid').toString('base64')]) {
      const bad = await acme.request(APPLICATIONS, { first: 2, after });
      expect(bad.errors?.[0]?.message).toMatch(/cursor/i);
      expect(bad.raw).not.toContain('INTERNAL_SERVER_ERROR');
    }
    const negative = await acme.request(APPLICATIONS, { first: -1 });
    expect(negative.errors?.[0]?.message).toMatch(/first/);
    const oversized = await acme.request(APPLICATIONS, { first: 51 });
    expect(oversized.errors?.[0]).toMatchObject({
      message: 'first must be at most 50 (applications asked for 51)',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(oversized.data ?? null).toBeNull();
    const nested = await acme.request(
      `query { applications(first: 1) { edges { node { keys(last: 51) { totalCount } } } } }`,
    );
    expect(nested.errors?.[0]?.message).toBe('last must be at most 50 (keys asked for 51)');
    await expect(acme.gql(APPLICATIONS, { first: 50 })).resolves.toBeTruthy();
  });
});

describe('Application.keys', () => {
  test('walks an application’s keys forward and backward exactly once', async ({ h }) => {
    const acme = await h.as('acme');
    const app = await createApplication(acme, 'web');
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) ids.push((await createKey(acme, app.id, { name: `k${i}` })).key.id);
    const forward: string[] = [];
    let after: string | null = null;
    do {
      const { application }: any = await acme.gql(APPLICATION_KEYS, { applicationId: app.id, first: 4, after });
      forward.push(...application.keys.edges.map((e: any) => e.node.id));
      after = application.keys.pageInfo.hasNextPage ? application.keys.pageInfo.endCursor : null;
    } while (after);
    expect(forward).toEqual([...ids].reverse());

    const backward: string[] = [];
    let before: string | null = null;
    do {
      const { application }: any = await acme.gql(APPLICATION_KEYS, { applicationId: app.id, last: 4, before });
      backward.unshift(...application.keys.edges.map((e: any) => e.node.id));
      before = application.keys.pageInfo.hasPreviousPage ? application.keys.pageInfo.startCursor : null;
    } while (before);
    expect(backward).toEqual([...ids].reverse());
  });
});

describe('Application.keys on a page of applications', () => {
  test('gives each application its own newest keys, filtered, with its own count', async ({ h }) => {
    const acme = await h.as('acme');
    const expected = new Map<string, { id: string; name: string }[]>();
    for (let a = 0; a < 4; a++) {
      const app = await createApplication(acme, `page ${a}`);
      const keys = [];
      for (let k = 0; k < a * 3; k++) {
        const name = k % 2 ? `odd 100% ${k}` : `even ${k}`;
        keys.push({ id: (await createKey(acme, app.id, { name })).key.id, name });
      }
      expected.set(app.id, keys.reverse()); // newest first
    }
    // Another merchant's keys in applications of the same names never appear.
    const globex = await h.as('globex');
    for (let a = 0; a < 4; a++) await createKey(globex, (await createApplication(globex, `page ${a}`)).id);

    const page = async (keyArgs: string) =>
      (
        await acme.gql(
          `query { applications(first: 10) { edges { node { id keys(${keyArgs}) { totalCount edges { node { id name } } } } } } }`,
        )
      ).applications.edges.map((e: any) => e.node);
    for (const node of await page('first: 4')) {
      const all = expected.get(node.id)!;
      expect(node.keys.edges.map((e: any) => e.node.id)).toEqual(all.slice(0, 4).map((k) => k.id));
      expect(node.keys.totalCount).toBe(all.length);
    }
    // `%` in a search is a character, not a wildcard; a filter applies to the list and the count.
    for (const node of await page('first: 2, search: "100%"')) {
      const odd = expected.get(node.id)!.filter((k) => k.name.includes('100%'));
      expect(node.keys.edges.map((e: any) => e.node.id)).toEqual(odd.slice(0, 2).map((k) => k.id));
      expect(node.keys.totalCount).toBe(odd.length);
    }
    for (const node of await page('last: 2, status: [ACTIVE]')) {
      const all = expected.get(node.id)!;
      expect(node.keys.edges.map((e: any) => e.node.id)).toEqual(all.slice(-2).map((k) => k.id));
    }
    for (const node of await page('first: 3, status: [REVOKED, DISABLED]')) {
      expect([node.keys.edges, node.keys.totalCount]).toEqual([[], 0]);
    }
  });
});

test('Application.keys answers a scalar selection exactly as apiKey(id:) does', async ({ h }) => {
  const acme = await h.as('acme');
  const app = await createApplication(acme, 'columns');
  const { key } = await createKey(acme, app.id, {
    name: 'full',
    websiteUrl: 'https://shop.example.com',
    scopes: ['orders:read', 'orders:write'],
    expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    metadata: { plan: 'pro', limits: { rps: 10 }, tags: ['a', 'b'] },
    externalId: 'cust_42',
    credits: { remaining: 500, refillAmount: 1000, refillInterval: 'MONTHLY' },
    rateLimits: [{ name: 'per-second', limit: 10, windowSeconds: 1 }],
  } as never);
  await createKey(acme, app.id, { name: 'plain' });
  // Only the key's own columns (and fields computed from them): the one-statement path.
  const fields = `id name websiteUrl prefix access scopes environment status expiresAt revokedAt lastUsedAt
    lastUsedIp enabled metadata externalId ipDefaultAction createdAt updatedAt
    credits { remaining refillAmount refillInterval refillDay refilledAt nextRefillAt }
    rateLimits { name limit windowSeconds }`;
  const listed = await acme.gql(
    `query { applications(first: 10) { edges { node { id keys(first: 10) { edges { node { ${fields} } } } } } } }`,
  );
  const edges = listed.applications.edges.find((e: any) => e.node.id === app.id).node.keys.edges;
  expect(edges.map((e: any) => e.node.name)).toEqual(['plain', 'full']);
  const single = await acme.gql(`query($id: ID!) { apiKey(id: $id) { ${fields} } }`, { id: key.id });
  expect(edges[1].node).toEqual(single.apiKey);
  expect(edges[1].node.metadata).toEqual({ plan: 'pro', limits: { rps: 10 }, tags: ['a', 'b'] });
});

describe('every other list', () => {
  /** Walks a connection at `path` both ways in pages of `size`, returning the ids each way (newest first). */
  async function both(client: Client, query: string, pick: (data: any) => any, size: number, extra = {}) {
    const ways: string[][] = [];
    for (const direction of ['forward', 'backward'] as const) {
      const ids: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 50; page++) {
        const variables = direction === 'forward' ? { first: size, after: cursor } : { last: size, before: cursor };
        const connection = pick(await client.gql(query, { ...extra, ...variables }));
        const nodes = connection.edges.map((e: any) => e.node.id);
        ids.push(...(direction === 'forward' ? nodes : nodes.reverse()));
        const more = direction === 'forward' ? connection.pageInfo.hasNextPage : connection.pageInfo.hasPreviousPage;
        if (!more) break;
        cursor = direction === 'forward' ? connection.pageInfo.endCursor : connection.pageInfo.startCursor;
      }
      ways.push(ids);
    }
    return ways;
  }
  const PAGE = 'first: $first, after: $after, last: $last, before: $before';
  const VARS = '$first: Int, $after: String, $last: Int, $before: String';
  const INFO = 'pageInfo { hasNextPage hasPreviousPage startCursor endCursor }';

  test('the audit trail, webhook endpoints, their deliveries and expiring keys page both ways, within the largest page', async ({
    h,
  }) => {
    const acme = await h.as('acme');
    const app = await createApplication(acme, 'Listed');
    const soon = new Date(Date.now() + 3_600_000).toISOString();
    for (let i = 0; i < 7; i++) await createKey(acme, app.id, { name: `k${i}`, expiresAt: soon });
    const endpoints: string[] = [];
    for (let i = 0; i < 5; i++) {
      const made = await acme.gql(
        'mutation($u: String!) { createWebhookEndpoint(input: { url: $u, events: [KEY_CREATED] }) { ... on CreateWebhookEndpointPayload { endpoint { id } } } }',
        { u: `https://8.8.8.8/hooks/${i}` },
      );
      endpoints.push(made.createWebhookEndpoint.endpoint.id);
    }
    for (let i = 0; i < 6; i++) {
      await acme.gql('mutation($id: ID!) { sendTestWebhook(input: { id: $id }) { __typename } }', { id: endpoints[0] });
    }
    const lists: [string, (data: any) => any, Record<string, unknown>, number][] = [
      [`query(${VARS}) { auditEvents(${PAGE}) { edges { node { id } } ${INFO} } }`, (d) => d.auditEvents, {}, 19],
      [
        `query(${VARS}) { webhookEndpoints(${PAGE}) { edges { node { id } } ${INFO} } }`,
        (d) => d.webhookEndpoints,
        {},
        5,
      ],
      [
        `query($id: ID!, ${VARS}) { node(id: $id) { ... on WebhookEndpoint { deliveries(${PAGE}) { edges { node { id } } ${INFO} } } } }`,
        (d) => d.node.deliveries,
        { id: endpoints[0] },
        6,
      ],
      [
        `query(${VARS}) { expiringKeys(withinSeconds: 86400, ${PAGE}) { edges { node { id } } ${INFO} } }`,
        (d) => d.expiringKeys,
        {},
        7,
      ],
    ];
    for (const [query, pick, extra, count] of lists) {
      for (const size of [1, 4]) {
        const [forward, backward] = await both(acme, query, pick, size, extra);
        expect([query.slice(0, 40), forward!.length, new Set(forward).size]).toEqual([
          query.slice(0, 40),
          count,
          count,
        ]);
        expect([...backward!].reverse()).toEqual(forward);
      }
      // Above the largest page: refused, not cut.
      const tooBig = await acme.request(query, { ...extra, first: 51 });
      expect(tooBig.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
  });
});
