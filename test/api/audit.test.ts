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
