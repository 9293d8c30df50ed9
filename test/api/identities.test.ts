// Identities: whoever keys belong to, under the merchant's own id. Managed through GraphQL,
// returned by every verification path, and a change reaches every key of the identity on its
// next verification: on this instance here, on another instance (PostgreSQL) below.
import {
  ApiKeyDocument as API_KEY,
  AuditEventsDocument as AUDIT,
  CreateApplicationDocument as CREATE_APP,
  CreateIdentityDocument as CREATE_IDENTITY,
  CreateKeyDocument as CREATE_KEY,
  DeleteIdentityDocument as DELETE_IDENTITY,
  EditKeyDocument as EDIT_KEY,
  IdentitiesDocument as IDENTITIES,
  IdentityDocument as IDENTITY,
  IdentityUsageDocument as IDENTITY_USAGE,
  RevokeKeyDocument as REVOKE,
  RollKeyDocument as ROLL,
  UpdateIdentityDocument as UPDATE_IDENTITY,
  VerifyKeyDocument as VERIFY,
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

const createIdentity = async (externalId: string, input: Record<string, unknown> = {}) =>
  ok((await s.graphql(token, CREATE_IDENTITY, { input: { externalId, ...input } })).data.createIdentity).identity;
const createKey = async (input: Record<string, unknown> = {}) =>
  ok(
    (await s.graphql(token, CREATE_KEY, { input: { applicationId: app, name: 'Checkout server', ...input } })).data
      .createKey,
  );
const verify = async (key: string) =>
  member((await s.graphql(service, VERIFY, { input: { key } })).data.verifyKey, 'KeyVerification');

describe('managing identities', () => {
  it('creates, finds by id and by external id, searches, and changes one', async () => {
    const identity = await createIdentity('cus_NwT8fJ2kLm93Qa', {
      name: 'Northwind Trading',
      metadata: { plan: 'enterprise', seats: 40 },
    });
    expect(identity).toMatchObject({
      externalId: 'cus_NwT8fJ2kLm93Qa',
      name: 'Northwind Trading',
      metadata: { plan: 'enterprise', seats: 40 },
      keysInUse: 0,
    });
    expect((await s.graphql(token, IDENTITY, { id: identity.id })).data.identity?.externalId).toBe(
      'cus_NwT8fJ2kLm93Qa',
    );
    expect((await s.graphql(token, IDENTITY, { externalId: 'cus_NwT8fJ2kLm93Qa' })).data.identity?.id).toBe(
      identity.id,
    );
    expect((await s.graphql(token, IDENTITY, { externalId: 'cus_nobody' })).data.identity).toBeNull();
    for (const search of ['northwind', 'NWT8F']) {
      const found = (await s.graphql(token, IDENTITIES, { search, first: 10 })).data.identities;
      expect(found.edges.map((edge) => edge.node.id)).toEqual([identity.id]);
    }
    // LIKE's own characters match themselves.
    expect((await s.graphql(token, IDENTITIES, { search: '%', first: 10 })).data.identities.totalCount).toBe(0);
    const changed = ok(
      (
        await s.graphql(token, UPDATE_IDENTITY, {
          input: { id: identity.id, name: null, metadata: { plan: 'growth' } },
        })
      ).data.updateIdentity,
    ).identity;
    expect(changed).toMatchObject({ externalId: 'cus_NwT8fJ2kLm93Qa', name: null, metadata: { plan: 'growth' } });
  });

  it('refuses bad input with the field that is wrong, and a taken external id', async () => {
    const bad = async (input: Record<string, unknown>) =>
      member(
        (await s.graphql(token, CREATE_IDENTITY, { input: input as never })).data.createIdentity,
        'ValidationError',
      ).issues[0]?.path;
    expect(await bad({ externalId: '   ' })).toEqual(['input', 'externalId']);
    expect(await bad({ externalId: 'x'.repeat(256) })).toEqual(['input', 'externalId']);
    expect(await bad({ externalId: 'a\u0000b' })).toEqual(['input', 'externalId']);
    expect(await bad({ externalId: 'ok', metadata: [1, 2] })).toEqual(['input', 'metadata']);
    expect(await bad({ externalId: 'ok', metadata: { blob: 'x'.repeat(5000) } })).toEqual(['input', 'metadata']);
    await createIdentity('cus_taken');
    const taken = member(
      (await s.graphql(token, CREATE_IDENTITY, { input: { externalId: 'cus_taken' } })).data.createIdentity,
      'NameConflictError',
    );
    expect(taken.message).toBe('An identity with the external id "cus_taken" already exists');
    const both = await s.graphql(token, IDENTITY, { id: 'x', externalId: 'y' });
    expect(both.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
  });
});

describe('a key’s identity', () => {
  it('is returned by verifyKey and /v1/auth, and listed on the identity', async () => {
    const identity = await createIdentity('org 12/ø', { metadata: { tier: 'gold' } });
    const { secret, key } = await createKey({ identityId: identity.id });
    expect(key.identity).toMatchObject({ id: identity.id, externalId: 'org 12/ø' });
    expect(await verify(secret)).toMatchObject({
      code: 'VALID',
      identity: { id: identity.id, externalId: 'org 12/ø', metadata: { tier: 'gold' } },
    });
    const gateway = await s.forwardAuth({ 'x-api-key': secret });
    expect(gateway.headers.get('x-keygate-identity-id')).toBe(identity.id);
    expect(decodeURIComponent(gateway.headers.get('x-keygate-identity-external-id') ?? '')).toBe('org 12/ø');
    // A key of another application joins it; the identity lists both.
    const other = ok((await s.graphql(token, CREATE_APP, { input: { name: 'Reports' } })).data.createApplication)
      .application.id;
    const second = ok(
      (
        await s.graphql(token, CREATE_KEY, {
          input: { applicationId: other, name: 'Exporter', identityId: identity.id },
        })
      ).data.createKey,
    );
    const listed = (await s.graphql(token, IDENTITY, { id: identity.id, keysFirst: 10 })).data.identity;
    expect(listed?.keysInUse).toBe(2);
    expect(listed?.keys.edges.map((edge) => edge.node.id)).toEqual([second.key.id, key.id]);
    // A key without an identity answers with none.
    const alone = await createKey();
    expect(await verify(alone.secret)).toMatchObject({ code: 'VALID', identity: null });
    expect((await s.forwardAuth({ 'x-api-key': alone.secret })).headers.get('x-keygate-identity-id')).toBe('');
  });

  it('counts the usage of all its keys, of every application, as its own', async () => {
    const identity = await createIdentity('cus_usage');
    const other = ok(
      (await s.graphql(token, CREATE_APP, { input: { name: 'Usage elsewhere' } })).data.createApplication,
    ).application.id;
    const first = await createKey({ identityId: identity.id });
    const second = ok(
      (await s.graphql(token, CREATE_KEY, { input: { applicationId: other, name: 'Second', identityId: identity.id } }))
        .data.createKey,
    );
    const stranger = await createKey();
    for (const secret of [first.secret, first.secret, first.secret, second.secret, second.secret, stranger.secret]) {
      expect((await s.forwardAuth({ 'x-api-key': secret })).status).toBe(200);
    }
    ok((await s.graphql(token, REVOKE, { input: { id: second.key.id } })).data.revokeKey);
    expect((await s.forwardAuth({ 'x-api-key': second.secret })).status).toBe(401);
    await s.server.usage.flush();
    const hour = 3_600_000;
    const from = new Date(Math.floor(Date.now() / hour) * hour).toISOString();
    const to = new Date(Math.floor(Date.now() / hour) * hour + hour).toISOString();
    const usage = (await s.graphql(token, IDENTITY_USAGE, { id: identity.id, from, to })).data.identity?.usage;
    expect(usage).toEqual([expect.objectContaining({ valid: 5, refused: 1 })]);
  });

  it('changes reach a cached key on its next verification', async () => {
    const identity = await createIdentity('cus_changing', { metadata: { plan: 'free' } });
    const { secret } = await createKey({ identityId: identity.id });
    expect(await verify(secret)).toMatchObject({ identity: { metadata: { plan: 'free' } } });
    expect((await s.forwardAuth({ 'x-api-key': secret })).status).toBe(200); // cached now
    ok(
      (
        await s.graphql(token, UPDATE_IDENTITY, {
          input: { id: identity.id, externalId: 'cus_changed', metadata: { plan: 'pro' } },
        })
      ).data.updateIdentity,
    );
    expect(await verify(secret)).toMatchObject({ identity: { externalId: 'cus_changed', metadata: { plan: 'pro' } } });
    expect((await s.forwardAuth({ 'x-api-key': secret })).headers.get('x-keygate-identity-external-id')).toBe(
      'cus_changed',
    );
  });

  it('moves with editKey, goes with null, and stays with a roll', async () => {
    const first = await createIdentity('cus_first');
    const second = await createIdentity('cus_second');
    const { secret, key } = await createKey({ identityId: first.id });
    expect((await verify(secret)).identity?.externalId).toBe('cus_first');
    ok((await s.graphql(token, EDIT_KEY, { input: { id: key.id, identityId: second.id } })).data.editKey);
    expect((await verify(secret)).identity?.externalId).toBe('cus_second');
    const rolled = ok((await s.graphql(token, ROLL, { input: { id: key.id, gracePeriodSeconds: 60 } })).data.rollKey);
    expect(rolled.key.identity?.id).toBe(second.id);
    expect((await verify(rolled.secret)).identity?.externalId).toBe('cus_second');
    ok((await s.graphql(token, EDIT_KEY, { input: { id: rolled.key.id, identityId: null } })).data.editKey);
    expect(await verify(rolled.secret)).toMatchObject({ code: 'VALID', identity: null });
    const missing = member(
      (await s.graphql(token, EDIT_KEY, { input: { id: rolled.key.id, identityId: 'not-an-id' } })).data.editKey,
      'NotFoundError',
    );
    expect(missing).toMatchObject({ resource: 'Identity', id: 'not-an-id' });
  });
});

describe('deleting an identity', () => {
  it('is refused while keys belong to it, and with detachKeys keeps them, belonging to none', async () => {
    const identity = await createIdentity('cus_leaving');
    const { secret, key } = await createKey({ identityId: identity.id });
    const revoked = await createKey({ identityId: identity.id });
    ok((await s.graphql(token, REVOKE, { input: { id: revoked.key.id } })).data.revokeKey);
    expect((await verify(secret)).identity?.id).toBe(identity.id); // cached with it
    const refused = member(
      (await s.graphql(token, DELETE_IDENTITY, { input: { id: identity.id } })).data.deleteIdentity,
      'IdentityInUseError',
    );
    expect(refused).toMatchObject({ code: 'IDENTITY_IN_USE', identityId: identity.id, keyCount: 1 });
    const deleted = ok(
      (await s.graphql(token, DELETE_IDENTITY, { input: { id: identity.id, detachKeys: true } })).data.deleteIdentity,
    ).identity;
    expect(deleted).toMatchObject({ id: identity.id, externalId: 'cus_leaving' });
    expect(await verify(secret)).toMatchObject({ code: 'VALID', identity: null });
    expect((await s.graphql(token, API_KEY, { id: key.id })).data.apiKey?.identity).toBeNull();
    expect((await s.graphql(token, IDENTITY, { id: identity.id })).data.identity).toBeNull();
  });

  it('only revoked keys: deleted without asking; given to a key at the same moment: one of the two waits', async () => {
    const quiet = await createIdentity('cus_quiet');
    const gone = await createKey({ identityId: quiet.id });
    ok((await s.graphql(token, REVOKE, { input: { id: gone.key.id } })).data.revokeKey);
    ok((await s.graphql(token, DELETE_IDENTITY, { input: { id: quiet.id } })).data.deleteIdentity);
    for (let round = 0; round < 5; round++) {
      const identity = await createIdentity(`cus_race_${round}`);
      const [created, deleted] = await Promise.all([
        s.graphql(token, CREATE_KEY, {
          input: { applicationId: app, name: `Racer ${round}`, identityId: identity.id },
        }),
        s.graphql(token, DELETE_IDENTITY, { input: { id: identity.id } }),
      ]);
      const key = created.data.createKey;
      if (key.__typename === 'CreateKeyPayload') {
        expect(key.key.identity?.id).toBe(identity.id);
        expect(deleted.data.deleteIdentity.__typename).toBe('IdentityInUseError');
      } else {
        expect(key).toMatchObject({ __typename: 'NotFoundError', resource: 'Identity' });
        expect(deleted.data.deleteIdentity.__typename).toBe('IdentityPayload');
      }
    }
  });
});

it('audits every change to an identity', async () => {
  const identity = await createIdentity('cus_audited', { name: 'Audited Ltd', metadata: { a: 1 } });
  ok(
    (await s.graphql(token, UPDATE_IDENTITY, { input: { id: identity.id, name: 'Audited Ltd (UK)' } })).data
      .updateIdentity,
  );
  const { key } = await createKey({ identityId: identity.id });
  ok((await s.graphql(token, EDIT_KEY, { input: { id: key.id, identityId: null } })).data.editKey);
  ok((await s.graphql(token, DELETE_IDENTITY, { input: { id: identity.id } })).data.deleteIdentity);
  const trail = (await s.graphql(token, AUDIT, { first: 10 })).data.auditEvents.edges.map((edge) => edge.node);
  const of = (action: string) => trail.find((event) => event.action === action)?.summary;
  expect(of('createIdentity')).toEqual({ externalId: 'cus_audited', name: 'Audited Ltd', metadata: { a: 1 } });
  expect(of('updateIdentity')).toEqual({ name: 'Audited Ltd (UK)', before: { name: 'Audited Ltd' } });
  expect(of('editKey')).toEqual({ identityId: null, before: { identityId: identity.id } });
  expect(of('deleteIdentity')).toEqual({ externalId: 'cus_audited', name: 'Audited Ltd (UK)', detachKeys: false });
  expect(trail.find((event) => event.action === 'deleteIdentity')?.targetType).toBe('Identity');
});

describe.runIf(testDbKind === 'postgres')('across instances on PostgreSQL', () => {
  let b: TestServer;
  beforeAll(async () => {
    b = await startTestServer({}, s.db);
  });
  afterAll(() => b?.close());

  it('an identity changed on instance A is what instance B answers with on its next request', async () => {
    const identity = await createIdentity('cus_shared');
    const { secret } = await createKey({ identityId: identity.id });
    const onB = async () =>
      (await b.forwardAuth({ 'x-api-key': secret })).headers.get('x-keygate-identity-external-id');
    expect(await onB()).toBe('cus_shared'); // B has the key in memory now
    ok(
      (await s.graphql(token, UPDATE_IDENTITY, { input: { id: identity.id, externalId: 'cus_renamed' } })).data
        .updateIdentity,
    );
    expect(await onB()).toBe('cus_renamed');
  });
});
