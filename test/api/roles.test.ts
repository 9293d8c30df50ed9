// Roles: named sets of scopes a key is granted besides its own. Managed through GraphQL, checked
// by every verification path (verifyKey, /v1/auth), and a role's edit reaches every key with it
// on the next request: on this instance here, on another instance (PostgreSQL) below.
import {
  ApiKeyDocument as API_KEY,
  AuditEventsDocument as AUDIT,
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  CreateRoleDocument as CREATE_ROLE,
  DeleteRoleDocument as DELETE_ROLE,
  EditKeyDocument as EDIT_KEY,
  RevokeKeyDocument as REVOKE,
  RoleDocument as ROLE,
  RolesDocument as ROLES,
  RollKeyDocument as ROLL,
  UpdateRoleDocument as UPDATE_ROLE,
  VerifyKeyDocument as VERIFY,
  type VerifyKeyInput,
} from '@keygate/sdk/documents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDbKind } from '../support/database.ts';
import { member, ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let s: TestServer;
let token: string;
let service: string;
let app: string;

beforeAll(async () => {
  s = await startTestServer();
  token = await s.merchantToken('acme');
  service = await s.verifierToken();
  app = ok((await s.graphql(token, CREATE_APP, { input: { name: 'Orders API' } })).data.createApplication).application
    .id;
});
afterAll(() => s?.close());

const createRole = async (name: string, scopes: string[], as = token) =>
  ok((await s.graphql(as, CREATE_ROLE, { input: { name, scopes } })).data.createRole).role;
const createKey = async (input: Record<string, unknown> = {}) =>
  ok(
    (await s.graphql(token, CREATE_KEY, { input: { applicationId: app, name: 'Support desk', ...input } })).data
      .createKey,
  );
const verify = async (key: string, input: Partial<VerifyKeyInput> = {}) =>
  (await s.graphql(service, VERIFY, { input: { key, ...input } })).data.verifyKey;
const codeOf = async (key: string, input: Partial<VerifyKeyInput> = {}) =>
  ((await verify(key, input)) as { code: string }).code;

describe('managing roles', () => {
  it('creates, finds, searches and renames a role', async () => {
    const role = await createRole('Support staff (EU)', ['orders.read', 'refunds.write', 'orders.read']);
    expect(role).toMatchObject({ name: 'Support staff (EU)', scopes: ['orders.read', 'refunds.write'], keysInUse: 0 });
    expect((await s.graphql(token, ROLE, { id: role.id })).data.role).toMatchObject({ id: role.id });
    const found = (await s.graphql(token, ROLES, { search: 'SUPPORT staff', first: 10 })).data.roles;
    expect(found.edges.map((edge) => edge.node.id)).toContain(role.id);
    const renamed = ok(
      (await s.graphql(token, UPDATE_ROLE, { input: { id: role.id, name: 'Support staff', description: 'Tier 1' } }))
        .data.updateRole,
    ).role;
    expect(renamed).toMatchObject({ name: 'Support staff', description: 'Tier 1', scopes: role.scopes });
  });

  it('refuses bad input with the field that is wrong', async () => {
    const empty = member(
      (await s.graphql(token, CREATE_ROLE, { input: { name: 'Nothing', scopes: [] } })).data.createRole,
      'ValidationError',
    );
    expect(empty.issues).toEqual([
      { path: ['input', 'scopes'], message: expect.stringContaining('at least one scope') },
    ]);
    const badScope = member(
      (await s.graphql(token, CREATE_ROLE, { input: { name: 'Odd', scopes: ['orders read'] } })).data.createRole,
      'ValidationError',
    );
    expect(badScope.issues[0]?.path).toEqual(['input', 'scopes', '0']);
    const control = member(
      (await s.graphql(token, CREATE_ROLE, { input: { name: 'a\nb', scopes: ['x'] } })).data.createRole,
      'ValidationError',
    );
    expect(control.issues[0]?.path).toEqual(['input', 'name']);
    const long = member(
      (await s.graphql(token, CREATE_ROLE, { input: { name: 'n'.repeat(101), scopes: ['x'] } })).data.createRole,
      'ValidationError',
    );
    expect(long.issues[0]?.path).toEqual(['input', 'name']);
    await createRole('Auditors', ['reports.read']);
    const taken = member(
      (await s.graphql(token, CREATE_ROLE, { input: { name: '  AUDITORS ', scopes: ['x'] } })).data.createRole,
      'NameConflictError',
    );
    expect(taken.message).toBe('A role named "AUDITORS" already exists');
    const role = await createRole('Temporary', ['x']);
    const cleared = member(
      (await s.graphql(token, UPDATE_ROLE, { input: { id: role.id, scopes: [] } })).data.updateRole,
      'ValidationError',
    );
    expect(cleared.issues[0]?.path).toEqual(['input', 'scopes']);
    const nulled = member(
      (await s.graphql(token, UPDATE_ROLE, { input: { id: role.id, scopes: null } })).data.updateRole,
      'ValidationError',
    );
    expect(nulled.issues[0]?.path).toEqual(['input', 'scopes']);
  });

  it('gives keys at most 20 roles, each of the merchant’s own', async () => {
    const many = await Promise.all(Array.from({ length: 21 }, (_, i) => createRole(`Bulk ${i}`, [`bulk.${i}`])));
    const tooMany = member(
      (
        await s.graphql(token, CREATE_KEY, {
          input: { applicationId: app, name: 'Greedy', roles: many.map((role) => role.id) },
        })
      ).data.createKey,
      'ValidationError',
    );
    expect(tooMany.issues[0]).toEqual({ path: ['input', 'roles'], message: 'a key may have at most 20 roles' });
    // The same role twice is one role.
    const twice = await createKey({ roles: [many[0]!.id, many[0]!.id] });
    expect(twice.key.roles.map((role) => role.id)).toEqual([many[0]!.id]);
    const bogus = member(
      (await s.graphql(token, CREATE_KEY, { input: { applicationId: app, name: 'Bogus', roles: ['not-an-id'] } })).data
        .createKey,
      'NotFoundError',
    );
    expect(bogus).toMatchObject({ resource: 'Role', id: 'not-an-id' });
  });
});

describe('a key’s effective scopes are its own plus its roles’', () => {
  it('verifies with the scopes of its roles, wildcards included', async () => {
    const support = await createRole('Desk', ['orders.read']);
    const refunds = await createRole('Refunds', ['refunds.*']);
    const { secret, key } = await createKey({ scopes: ['profile.read'], roles: [support.id, refunds.id] });
    expect(key.scopes).toEqual(['profile.read']);
    expect(key.effectiveScopes).toEqual(['orders.read', 'profile.read', 'refunds.*']);
    expect(key.roles.map((role) => role.name).sort()).toEqual(['Desk', 'Refunds']);
    const answer = await verify(secret, { requiredScopes: ['orders.read', 'refunds.issue'] });
    expect(answer).toMatchObject({ code: 'VALID', scopes: ['orders.read', 'profile.read', 'refunds.*'] });
    expect(await codeOf(secret, { requiredScopes: ['orders.write'] })).toBe('INSUFFICIENT_SCOPE');
    expect(await codeOf(secret, { requiredPermissions: 'orders.read AND (refunds.write OR admin)' })).toBe('VALID');
    expect(await codeOf(secret, { requiredPermissions: 'orders.write OR admin' })).toBe('INSUFFICIENT_SCOPE');
    // The gateway path sees the same scopes.
    const gateway = await s.forwardAuth({ 'x-api-key': secret }, 'scopes=refunds.issue');
    expect(gateway.status).toBe(200);
    expect((await s.forwardAuth({ 'x-api-key': secret }, 'scopes=orders.write')).code).toBe('INSUFFICIENT_SCOPE');
  });

  it('narrows a key without scopes of its own to its roles', async () => {
    const reader = await createRole('Reader', ['orders.read']);
    const { secret, key } = await createKey({ roles: [reader.id] });
    expect(await codeOf(secret, { requiredScopes: ['orders.write'] })).toBe('INSUFFICIENT_SCOPE');
    // Without roles and scopes a key is not narrowed: taking the last role off says so at once.
    ok((await s.graphql(token, EDIT_KEY, { input: { id: key.id, roles: [] } })).data.editKey);
    expect(await codeOf(secret, { requiredScopes: ['orders.write'] })).toBe('VALID');
  });

  it('reaches a cached key on its next verification when the role changes', async () => {
    const role = await createRole('Changing', ['orders.read']);
    const { secret } = await createKey({ roles: [role.id] });
    expect(await codeOf(secret, { requiredScopes: ['refunds.write'] })).toBe('INSUFFICIENT_SCOPE');
    expect((await s.forwardAuth({ 'x-api-key': secret }, 'scopes=refunds.write')).status).toBe(403); // cached now
    ok(
      (await s.graphql(token, UPDATE_ROLE, { input: { id: role.id, scopes: ['orders.read', 'refunds.write'] } })).data
        .updateRole,
    );
    expect(await codeOf(secret, { requiredScopes: ['refunds.write'] })).toBe('VALID');
    expect((await s.forwardAuth({ 'x-api-key': secret }, 'scopes=refunds.write')).status).toBe(200);
    ok((await s.graphql(token, UPDATE_ROLE, { input: { id: role.id, scopes: ['orders.read'] } })).data.updateRole);
    expect((await s.forwardAuth({ 'x-api-key': secret }, 'scopes=refunds.write')).status).toBe(403);
  });

  it('moves the roles to the new key of a roll', async () => {
    const role = await createRole('Rolled', ['orders.read']);
    const { key } = await createKey({ roles: [role.id] });
    const rolled = ok((await s.graphql(token, ROLL, { input: { id: key.id, gracePeriodSeconds: 60 } })).data.rollKey);
    expect(rolled.key.roles.map((r) => r.id)).toEqual([role.id]);
    expect(await codeOf(rolled.secret, { requiredScopes: ['orders.write'] })).toBe('INSUFFICIENT_SCOPE');
    expect(await codeOf(rolled.secret, { requiredScopes: ['orders.read'] })).toBe('VALID');
    expect((await s.graphql(token, ROLE, { id: role.id })).data.role?.keysInUse).toBe(2);
  });
});

describe('deleting a role', () => {
  it('is refused while keys that are not revoked have it', async () => {
    const role = await createRole('In use', ['orders.read']);
    const { key } = await createKey({ roles: [role.id] });
    const refused = member(
      (await s.graphql(token, DELETE_ROLE, { input: { id: role.id } })).data.deleteRole,
      'RoleInUseError',
    );
    expect(refused).toMatchObject({ code: 'ROLE_IN_USE', roleId: role.id, keyCount: 1 });
    ok((await s.graphql(token, REVOKE, { input: { id: key.id } })).data.revokeKey);
    const deleted = ok((await s.graphql(token, DELETE_ROLE, { input: { id: role.id } })).data.deleteRole).role;
    expect(deleted).toMatchObject({ id: role.id, name: 'In use' });
    expect((await s.graphql(token, ROLE, { id: role.id })).data.role).toBeNull();
    expect((await s.graphql(token, API_KEY, { id: key.id })).data.apiKey?.roles).toEqual([]);
  });

  it('and giving it to a key at the same moment: one of the two wins, never a key with a lost role', async () => {
    for (let round = 0; round < 5; round++) {
      const role = await createRole(`Race ${round}`, ['orders.read']);
      const [created, deleted] = await Promise.all([
        s.graphql(token, CREATE_KEY, { input: { applicationId: app, name: `Racer ${round}`, roles: [role.id] } }),
        s.graphql(token, DELETE_ROLE, { input: { id: role.id } }),
      ]);
      const key = created.data.createKey;
      if (key.__typename === 'CreateKeyPayload') {
        // The key has the role, so the deletion must have been refused.
        expect(key.key.roles.map((r) => r.id)).toEqual([role.id]);
        expect(deleted.data.deleteRole.__typename).toBe('RoleInUseError');
      } else {
        expect(key).toMatchObject({ __typename: 'NotFoundError', resource: 'Role' });
        expect(deleted.data.deleteRole.__typename).toBe('RolePayload');
      }
    }
  });
});

it('audits every change to a role, in sentences’ worth of data and never a secret', async () => {
  const role = await createRole('Audited', ['orders.read']);
  ok((await s.graphql(token, UPDATE_ROLE, { input: { id: role.id, scopes: ['orders.*'] } })).data.updateRole);
  const { key, secret } = await createKey({ roles: [role.id] });
  ok((await s.graphql(token, EDIT_KEY, { input: { id: key.id, roles: [] } })).data.editKey);
  ok((await s.graphql(token, DELETE_ROLE, { input: { id: role.id } })).data.deleteRole);
  const trail = (await s.graphql(token, AUDIT, { first: 10 })).data.auditEvents.edges.map((edge) => edge.node);
  const of = (action: string) => trail.find((event) => event.action === action)?.summary;
  expect(of('deleteRole')).toEqual({ name: 'Audited', scopes: ['orders.*'] });
  expect(of('editKey')).toEqual({ roles: [], before: { roles: [role.id] } });
  expect(of('createKey')).toMatchObject({ roles: [role.id] });
  expect(of('updateRole')).toEqual({ scopes: ['orders.*'], before: { scopes: ['orders.read'] } });
  expect(JSON.stringify(trail)).not.toContain(secret);
});

describe.runIf(testDbKind === 'postgres')('across instances on PostgreSQL', () => {
  let b: TestServer;
  beforeAll(async () => {
    b = await startTestServer({}, s.db);
  });
  afterAll(() => b?.close());

  it('a role edited on instance A is applied by instance B on its next request', async () => {
    const role = await createRole('Shared', ['orders.read']);
    const { secret } = await createKey({ roles: [role.id] });
    const onB = async (scopes: string) => (await b.forwardAuth({ 'x-api-key': secret }, `scopes=${scopes}`)).status;
    expect(await onB('orders.read')).toBe(200);
    expect(await onB('refunds.write')).toBe(403); // B has the key in memory now
    ok((await s.graphql(token, UPDATE_ROLE, { input: { id: role.id, scopes: ['refunds.write'] } })).data.updateRole);
    // No wait: the mutation returned once every instance had the change.
    expect(await onB('refunds.write')).toBe(200);
    expect(await onB('orders.read')).toBe(403);
  });
});
