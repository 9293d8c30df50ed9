// The audit trail: one event per successful management change, written with
// the change; none for refused ones; queryable, filterable, tenant-scoped.

import { AuditEventsDocument, type AuditEventsQueryVariables } from '@keygate/sdk/documents';
import { expect, test } from '../support/fixtures.ts';
import type { Document, Harness, ResultOf, VariablesOf } from '../support/harness.ts';
import {
  CREATE_APPLICATION,
  CREATE_KEY,
  EDIT_KEY,
  REVOKE_KEY,
  SET_APPLICATION_ENABLED,
  SET_IP_RULES,
  UPDATE_APPLICATION,
} from '../support/operations.ts';
import { ok } from '../support/results.ts';
import { waitFor } from '../support/wait.ts';

test.override({ harnessOptions: { maxKeysPerApplication: 1 } });

const AUDIT = AuditEventsDocument;

/** Sends as a merchant with a chosen request id, and reads the trail back. */
function auditClient(h: Harness) {
  async function send<D extends Document<unknown, never>>(
    document: D,
    variables: VariablesOf<D>,
    requestId: string,
    merchant = 'acme',
  ): Promise<ResultOf<D>> {
    const result = await h.request(document, variables, {
      authorization: `Bearer ${await h.token(merchant)}`,
      'x-request-id': requestId,
    });
    expect(result.errors).toBeUndefined();
    return result.data;
  }
  async function events(variables: AuditEventsQueryVariables = {}, merchant = 'acme') {
    const data = await send(AUDIT, { first: 50, ...variables }, 'read', merchant);
    return data.auditEvents as { totalCount: number; edges: { node: Record<string, any> }[] };
  }
  return { send, events };
}

test('records every successful change once, with who, what, the request and no secret', async ({ h }) => {
  const { send, events } = auditClient(h);
  const app = ok(
    (await send(CREATE_APPLICATION, { input: { name: 'Shop', description: 'd' } }, 'req-1')).createApplication,
  ).application;
  await send(UPDATE_APPLICATION, { input: { id: app.id, name: 'Shop 2' } }, 'req-2');
  await send(SET_APPLICATION_ENABLED, { input: { id: app.id, enabled: false } }, 'req-3');
  const created = (await send(CREATE_KEY, { input: { applicationId: app.id, name: 'k', scopes: ['a:b'] } }, 'req-4'))
    .createKey;
  await send(EDIT_KEY, { input: { id: ok(created).key.id, access: 'FULL_ACCESS' } }, 'req-5');
  await send(
    SET_IP_RULES,
    { input: { keyId: ok(created).key.id, rules: [{ cidr: '10.0.0.1', action: 'DENY' }] } },
    'req-6',
  );
  await send(REVOKE_KEY, { input: { id: ok(created).key.id } }, 'req-7');

  const trail = await events();
  expect(trail.totalCount).toBe(7);
  expect(trail.edges.map((e) => [e.node.action, e.node.requestId, e.node.targetType, e.node.targetId])).toEqual([
    ['revokeKey', 'req-7', 'ApiKey', ok(created).key.id],
    ['setIpRules', 'req-6', 'ApiKey', ok(created).key.id],
    ['editKey', 'req-5', 'ApiKey', ok(created).key.id],
    ['createKey', 'req-4', 'ApiKey', ok(created).key.id],
    ['setApplicationEnabled', 'req-3', 'Application', app.id],
    ['updateApplication', 'req-2', 'Application', app.id],
    ['createApplication', 'req-1', 'Application', app.id],
  ]);
  expect(new Set(trail.edges.map((e) => e.node.actor))).toEqual(new Set(['user-of-acme']));
  const summaries = Object.fromEntries(trail.edges.map((e) => [e.node.action, e.node.summary]));
  expect(summaries).toMatchObject({
    createApplication: { name: 'Shop', description: 'd' },
    updateApplication: { name: 'Shop 2' },
    setApplicationEnabled: { enabled: false },
    createKey: { name: 'k', scopes: ['a:b'], prefix: ok(created).key.prefix, applicationId: app.id },
    editKey: { access: 'FULL_ACCESS' },
    setIpRules: { rules: [{ cidr: '10.0.0.1/32', action: 'DENY' }], defaultAction: 'ALLOW' },
    revokeKey: {},
  });
  expect(JSON.stringify(trail)).not.toContain(ok(created).secret.slice(8));
});

test('records nothing for refused changes', async ({ h }) => {
  const { send, events } = auditClient(h);
  const app = ok((await send(CREATE_APPLICATION, { input: { name: 'Shop' } }, 'ok')).createApplication).application;
  const key = ok((await send(CREATE_KEY, { input: { applicationId: app.id, name: 'k' } }, 'ok')).createKey).key;
  await send(REVOKE_KEY, { input: { id: key.id } }, 'ok');
  const before = (await events()).totalCount;
  await send(CREATE_APPLICATION, { input: { name: '' } }, 'invalid');
  await send(CREATE_APPLICATION, { input: { name: 'shop' } }, 'conflict');
  await send(UPDATE_APPLICATION, { input: { id: 'nope', name: 'x' } }, 'missing');
  await send(EDIT_KEY, { input: { id: key.id, name: 'x' } }, 'revoked');
  await send(REVOKE_KEY, { input: { id: key.id } }, 'again');
  await send(SET_IP_RULES, { input: { keyId: key.id, rules: [] } }, 'revoked');
  await send(CREATE_KEY, { input: { applicationId: app.id, name: 'k2' } }, 'allowed');
  await send(CREATE_KEY, { input: { applicationId: app.id, name: 'k3' } }, 'limit');
  const after = await events();
  expect(after.totalCount).toBe(before + 1);
  expect(after.edges[0]!.node.requestId).toBe('allowed');
});

test('filters by action, target and time, and shows a merchant only its own events', async ({ h }) => {
  const { send, events } = auditClient(h);
  const app = ok((await send(CREATE_APPLICATION, { input: { name: 'Shop' } }, 'a')).createApplication).application;
  const key = ok((await send(CREATE_KEY, { input: { applicationId: app.id, name: 'k' } }, 'b')).createKey).key;
  const middle = new Date().toISOString();
  await waitFor(() => new Date().toISOString() > middle, 1000, 'the clock to move past `middle`');
  await send(REVOKE_KEY, { input: { id: key.id } }, 'c');
  expect((await events({ action: 'revokeKey' })).edges.map((e) => e.node.requestId)).toEqual(['c']);
  expect((await events({ targetId: key.id })).totalCount).toBe(2);
  expect((await events({ targetId: app.id })).totalCount).toBe(1);
  expect((await events({ from: middle })).edges.map((e) => e.node.requestId)).toEqual(['c']);
  expect((await events({ to: middle })).totalCount).toBe(2);
  expect((await events({}, 'globex')).totalCount).toBe(0);
  expect((await events({ targetId: key.id }, 'globex')).totalCount).toBe(0);
  expect((await events({ targetId: 'nonsense' })).totalCount).toBe(0);
});

test('names what each event is about as it is now, and what an edit changed from', async ({ h }) => {
  const { send, events } = auditClient(h);
  const app = ok((await send(CREATE_APPLICATION, { input: { name: 'Staging' } }, 'a')).createApplication).application;
  await send(UPDATE_APPLICATION, { input: { id: app.id, name: 'Staging checkout' } }, 'b');
  const key = ok((await send(CREATE_KEY, { input: { applicationId: app.id, name: 'Old name' } }, 'c')).createKey).key;
  await send(EDIT_KEY, { input: { id: key.id, name: 'New name', access: 'FULL_ACCESS', websiteUrl: null } }, 'd');
  const acme = await h.as('acme');
  const endpoint = await acme.gql(
    'mutation($u: String!) { createWebhookEndpoint(input: { url: $u, events: [KEY_REVOKED] }) { __typename ... on Error { message } ... on CreateWebhookEndpointPayload { endpoint { id } } } }',
    { u: 'https://93.184.215.14/keygate' },
  );
  const endpointId = endpoint.createWebhookEndpoint.endpoint.id;
  await acme.gql('mutation($id: ID!) { deleteWebhookEndpoint(input: { id: $id }) { __typename } }', { id: endpointId });

  const trail = await events();
  const by = (action: string) => trail.edges.find((e) => e.node.action === action)!.node;
  // Targets as they are now: the renamed application and key, by name (and the key by prefix).
  expect(by('createApplication').target).toEqual({ __typename: 'Application', id: app.id, name: 'Staging checkout' });
  expect(by('editKey').target).toEqual({ __typename: 'ApiKey', id: key.id, name: 'New name', prefix: key.prefix });
  // A deleted endpoint is no longer there; its event still says which URL it was.
  expect(by('deleteWebhookEndpoint').target).toBeNull();
  expect(by('deleteWebhookEndpoint').summary).toEqual({ url: 'https://93.184.215.14/keygate' });
  expect(by('createWebhookEndpoint').target).toBeNull();
  // Edits say what the fields they sent held before.
  expect(by('updateApplication').summary).toEqual({ name: 'Staging checkout', before: { name: 'Staging' } });
  expect(by('editKey').summary).toEqual({
    name: 'New name',
    access: 'FULL_ACCESS',
    websiteUrl: null,
    before: { name: 'Old name', access: 'READ_ONLY', websiteUrl: null },
  });
});

test("loads a page's targets in one statement per kind, and never another merchant's", async ({ h }) => {
  const acme = await h.as('acme');
  const apps = [];
  for (let i = 0; i < 12; i++) {
    const app = ok((await acme.gql(CREATE_APPLICATION, { input: { name: `App ${i}` } })).createApplication).application;
    apps.push(app);
  }
  const { result, statements } = await h.db.countStatements(() => acme.gql(AUDIT, { first: 12 }));
  const names = result.auditEvents.edges.map((e) =>
    e.node.target?.__typename === 'Application' ? e.node.target.name : '',
  );
  expect(names).toEqual(apps.map((app) => app.name).reverse());
  expect(statements.filter((sql) => /"applications"/.test(sql) && /SELECT/i.test(sql))).toHaveLength(1);
  // Another merchant sees none of these events, so none of their targets either.
  const globex = await h.as('globex');
  expect((await globex.gql(AUDIT, { first: 50 })).auditEvents.edges).toEqual([]);
});
