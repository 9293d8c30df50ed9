// Tenant isolation: for every operation, another merchant's id must behave
// exactly like an id that does not exist — same response, nothing changed.
import { globalId } from '@keygate/core';
import {
  AuditEventsDocument,
  CreateIdentityDocument,
  CreateRoleDocument,
  DeleteIdentityDocument,
  DeleteRoleDocument,
  IdentitiesDocument,
  IdentityDocument,
  ImportKeysDocument,
  RegisterImportPrefixDocument,
  RoleDocument,
  RolesDocument,
  UpdateIdentityDocument,
  UpdateRoleDocument,
} from '@keygate/sdk/documents';
import { describe, expect, test } from '../support/fixtures.ts';
import type { Document } from '../support/harness.ts';
import {
  API_KEY,
  APPLICATION,
  APPLICATION_KEYS,
  APPLICATIONS,
  CREATE_KEY,
  createApplication,
  createKey,
  EDIT_KEY,
  NODE,
  REVOKE_KEY,
  ROLL_KEY,
  SET_APPLICATION_ENABLED,
  SET_IP_RULES,
  SET_KEY_ENABLED,
  UPDATE_APPLICATION,
} from '../support/operations.ts';

interface Ids {
  appId: string;
  keyId: string;
  roleId: string;
  identityId: string;
  merchantNodeId: string;
  appCursor: string;
  keyCursor: string;
  roleCursor: string;
  identityCursor: string;
}
let foreign: Ids;
let missing: Ids;
let ownAppId: string;
let ownKeyId: string;
let globexSnapshot: string;

const cursorFor = (id: string) => Buffer.from(`GPC:S:${id}`).toString('base64');

test.override({ harnessOptions: { fresh: false } });

test.beforeAll(async ({ h }) => {
  const globex = await h.as('globex');
  const app = await createApplication(globex, 'Globex store');
  const { key } = await createKey(globex, app.id, { name: 'Globex key' });
  await globex.gql(SET_IP_RULES, { input: { keyId: key.id, rules: [{ cidr: '10.0.0.0/8', action: 'ALLOW' }] } });
  const role = (await globex.gql(CreateRoleDocument, { input: { name: 'Globex support', scopes: ['orders.read'] } }))
    .createRole;
  if (role.__typename !== 'RolePayload') throw new Error(JSON.stringify(role));
  const roleId = role.role.id;
  const identity = (await globex.gql(CreateIdentityDocument, { input: { externalId: 'cus_globex', name: 'Globex' } }))
    .createIdentity;
  if (identity.__typename !== 'IdentityPayload') throw new Error(JSON.stringify(identity));
  const identityId = identity.identity.id;
  await globex.gql(EDIT_KEY, { input: { id: key.id, roles: [roleId], identityId } });
  const rawApp = app.id;
  const local = (id: string) => Buffer.from(id, 'base64').toString().split(':')[1]!;
  foreign = {
    appId: rawApp,
    keyId: key.id,
    roleId,
    identityId,
    merchantNodeId: globalId('Merchant', 'globex'),
    appCursor: cursorFor(local(rawApp)),
    keyCursor: cursorFor(local(key.id)),
    roleCursor: cursorFor(local(roleId)),
    identityCursor: cursorFor(local(identityId)),
  };
  // Well-formed ids of the same kind that exist nowhere; UUIDv7 ordering puts them next to the foreign ones.
  const absent = (id: string) => id.slice(0, -4) + (id.endsWith('ffff') ? '0000' : 'ffff');
  missing = {
    appId: globalId('Application', absent(local(rawApp))),
    keyId: globalId('ApiKey', absent(local(key.id))),
    roleId: globalId('Role', absent(local(roleId))),
    identityId: globalId('Identity', absent(local(identityId))),
    merchantNodeId: globalId('Merchant', 'nobody-at-all'),
    appCursor: cursorFor(absent(local(rawApp))),
    keyCursor: cursorFor(absent(local(key.id))),
    roleCursor: cursorFor(absent(local(roleId))),
    identityCursor: cursorFor(absent(local(identityId))),
  };
  const acme = await h.as('acme');
  ownAppId = (await createApplication(acme, 'Acme store')).id;
  ownKeyId = (await createKey(acme, ownAppId, { name: 'Acme key' })).key.id;
  await acme.gql(CreateRoleDocument, { input: { name: 'Acme support', scopes: ['orders.read'] } });
  await acme.gql(CreateIdentityDocument, { input: { externalId: 'cus_acme' } });
  await acme.gql(RegisterImportPrefixDocument, { input: { prefix: 'sk_live_' } });
  globexSnapshot = await h.db.dumpAllTables();
});

type Operation = [name: string, query: Document<unknown, never>, variables: (ids: Ids) => Record<string, unknown>];

const operations: Operation[] = [
  ['application', APPLICATION, (ids) => ({ id: ids.appId })],
  ['apiKey', API_KEY, (ids) => ({ id: ids.keyId })],
  ['node (application)', NODE, (ids) => ({ id: ids.appId })],
  ['node (key)', NODE, (ids) => ({ id: ids.keyId })],
  ['node (merchant)', NODE, (ids) => ({ id: ids.merchantNodeId })],
  ['applications after a cursor', APPLICATIONS, (ids) => ({ first: 10, after: ids.appCursor })],
  ['applications before a cursor', APPLICATIONS, (ids) => ({ last: 10, before: ids.appCursor })],
  [
    'application keys after a cursor',
    APPLICATION_KEYS,
    (ids) => ({ applicationId: ownAppId, first: 10, after: ids.keyCursor }),
  ],
  [
    'application keys before a cursor',
    APPLICATION_KEYS,
    (ids) => ({ applicationId: ownAppId, last: 10, before: ids.keyCursor }),
  ],
  ['updateApplication', UPDATE_APPLICATION, (ids) => ({ input: { id: ids.appId, name: 'Hijacked' } })],
  ['setApplicationEnabled', SET_APPLICATION_ENABLED, (ids) => ({ input: { id: ids.appId, enabled: false } })],
  ['createKey', CREATE_KEY, (ids) => ({ input: { applicationId: ids.appId, name: 'Planted' } })],
  ['editKey', EDIT_KEY, (ids) => ({ input: { id: ids.keyId, name: 'Hijacked' } })],
  ['revokeKey', REVOKE_KEY, (ids) => ({ input: { id: ids.keyId } })],
  ['setIpRules', SET_IP_RULES, (ids) => ({ input: { keyId: ids.keyId, rules: [] } })],
  ['rollKey', ROLL_KEY, (ids) => ({ input: { id: ids.keyId, gracePeriodSeconds: 60 } })],
  ['setKeyEnabled', SET_KEY_ENABLED, (ids) => ({ input: { id: ids.keyId, enabled: false } })],
  [
    'editKey with metering, metadata and owner id',
    EDIT_KEY,
    (ids) => ({
      input: {
        id: ids.keyId,
        credits: { remaining: 1 },
        rateLimits: [{ name: 'x', limit: 1, windowSeconds: 1 }],
        metadata: { hijacked: true },
        externalId: 'mine',
      },
    }),
  ],
  ['application keys by owner id', APPLICATION_KEYS, (ids) => ({ applicationId: ids.appId, externalId: 'x' })],
  ['auditEvents about a target', AuditEventsDocument, (ids) => ({ first: 10, targetId: ids.keyId })],
  ['auditEvents about a role', AuditEventsDocument, (ids) => ({ first: 10, targetId: ids.roleId })],
  ['role', RoleDocument, (ids) => ({ id: ids.roleId })],
  ['node (role)', NODE, (ids) => ({ id: ids.roleId })],
  ['roles after a cursor', RolesDocument, (ids) => ({ first: 10, after: ids.roleCursor })],
  ['roles before a cursor', RolesDocument, (ids) => ({ last: 10, before: ids.roleCursor })],
  ['updateRole', UpdateRoleDocument, (ids) => ({ input: { id: ids.roleId, scopes: ['admin'] } })],
  ['deleteRole', DeleteRoleDocument, (ids) => ({ input: { id: ids.roleId } })],
  [
    'createKey with a role',
    CREATE_KEY,
    (ids) => ({ input: { applicationId: ownAppId, name: 'K', roles: [ids.roleId] } }),
  ],
  ['editKey with a role', EDIT_KEY, (ids) => ({ input: { id: ownKeyId, roles: [ids.roleId] } })],
  ['identity', IdentityDocument, (ids) => ({ id: ids.identityId, keysFirst: 10 })],
  ['node (identity)', NODE, (ids) => ({ id: ids.identityId })],
  ['identities after a cursor', IdentitiesDocument, (ids) => ({ first: 10, after: ids.identityCursor })],
  ['identities before a cursor', IdentitiesDocument, (ids) => ({ last: 10, before: ids.identityCursor })],
  ['updateIdentity', UpdateIdentityDocument, (ids) => ({ input: { id: ids.identityId, name: 'Hijacked' } })],
  ['deleteIdentity', DeleteIdentityDocument, (ids) => ({ input: { id: ids.identityId, detachKeys: true } })],
  [
    'createKey with an identity',
    CREATE_KEY,
    (ids) => ({ input: { applicationId: ownAppId, name: 'K', identityId: ids.identityId } }),
  ],
  ['editKey with an identity', EDIT_KEY, (ids) => ({ input: { id: ownKeyId, identityId: ids.identityId } })],
  ['auditEvents about an identity', AuditEventsDocument, (ids) => ({ first: 10, targetId: ids.identityId })],
  [
    'importKeys',
    ImportKeysDocument,
    (ids) => ({
      input: {
        applicationId: ids.appId,
        keys: [{ hash: 'a'.repeat(64), prefix: 'sk_live_abcd', name: 'Planted', identityId: ids.identityId }],
      },
    }),
  ],
  [
    'importKeys with an identity',
    ImportKeysDocument,
    (ids) => ({
      input: {
        applicationId: ownAppId,
        keys: [{ hash: 'b'.repeat(64), prefix: 'sk_live_abcd', name: 'Planted', identityId: ids.identityId }],
      },
    }),
  ],
];

describe('another merchant’s ids behave exactly like missing ids', () => {
  test.for(operations)('%s', async ([_name, query, variables], { h }) => {
    const acme = await h.as('acme');
    const withForeign = await acme.request(query, variables(foreign));
    const withMissing = await acme.request(query, variables(missing));
    // Errors echo the id that was sent; apart from that the two answers are identical.
    const normalise = (raw: string, ids: Ids) =>
      Object.values(ids).reduce((text, id) => text.split(id).join('<id>'), raw);
    expect(withForeign.status).toBe(withMissing.status);
    expect(normalise(withForeign.raw, foreign)).toBe(normalise(withMissing.raw, missing));
    expect(withForeign.raw).not.toContain('Globex');
    expect(withForeign.raw).not.toContain('INTERNAL_SERVER_ERROR');
    expect(await h.db.dumpAllTables()).toBe(globexSnapshot);
  });

  test('lists only the caller’s own applications and keys', async ({ h }) => {
    const acme = await h.as('acme');
    const { applications } = await acme.gql(APPLICATIONS, { first: 100 });
    expect(applications.totalCount).toBe(1);
    expect(applications.edges.map((e: any) => e.node.name)).toEqual(['Acme store']);
    const { roles } = await acme.gql(RolesDocument, { first: 100 });
    expect(roles.edges.map((e) => e.node.name)).toEqual(['Acme support']);
    const { identities } = await acme.gql(IdentitiesDocument, { first: 100 });
    expect(identities.edges.map((e) => e.node.externalId)).toEqual(['cus_acme']);
    // Another merchant's external id is not found either.
    expect((await acme.gql(IdentityDocument, { externalId: 'cus_globex' })).identity).toBeNull();
    const globex = await h.as('globex');
    const { viewer } = await globex.gql('{ viewer { merchantId } }');
    expect(viewer.merchantId).toBe('globex');
  });
});
