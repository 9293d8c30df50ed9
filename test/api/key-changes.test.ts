// Changes that alter how a key verifies, on PostgreSQL with two instances:
// the announcement is part of the change's transaction (an instance that dies
// right after committing cannot leave the others serving a revoked key), a
// change that rolls back announces nothing, and a change that loses to a
// concurrent revocation reports the revocation's real time.

import {
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  EditKeyDocument as EDIT,
  RevokeKeyDocument as REVOKE,
  SetIpRulesDocument as SET_IP_RULES,
} from '@keygate/sdk/documents';
import { CHANNEL } from '@keygate/server';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDbKind } from '../support/database.ts';
import { ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';
import { quietFor, waitFor } from '../support/wait.ts';

const RULES = [{ cidr: '10.0.0.0/8', action: 'DENY' as const }];

describe.runIf(testDbKind === 'postgres')('announcing key changes on PostgreSQL', () => {
  let a: TestServer;
  let b: TestServer;
  let token: string;
  let app: string;
  let listener: pg.Client;
  const heard: string[] = [];

  beforeAll(async () => {
    a = await startTestServer();
    b = await startTestServer({}, a.db);
    token = await a.merchantToken('acme');
    app = ok((await a.graphql(token, CREATE_APP, { input: { name: 'Shop' } })).data.createApplication).application.id;
    listener = new pg.Client({ connectionString: a.db.storage.kind === 'postgres' ? a.db.storage.url : '' });
    await listener.connect();
    listener.on('notification', (message) => heard.push(message.payload ?? ''));
    await listener.query(`LISTEN ${CHANNEL}`);
  });
  afterAll(async () => {
    await listener?.end();
    await b?.close();
    await a?.close();
  });

  const newKey = async () =>
    (await a.graphql(token, CREATE_KEY, { input: { applicationId: app, name: 'k' } })).data.createKey as {
      secret: string;
      key: { id: string };
    };
  const statusOn = async (server: TestServer, secret: string) =>
    (await server.forwardAuth({ 'x-api-key': secret })).status;

  it('reaches the other instance when the revoking instance dies right after its commit', async () => {
    const { secret, key } = await newKey();
    expect(await statusOn(b, secret)).toBe(200); // now served from B's memory
    // A fault where the announcement used to be sent: after the commit, A does nothing more.
    const bus = a.server.invalidation;
    const announce = bus.announce.bind(bus);
    bus.announce = async (tx, change) => {
      await announce(tx, change);
      return {
        settled: () => Promise.reject(new Error('instance died between commit and announcement')),
        cancel: () => {},
      };
    };
    try {
      const response = await a.graphql(token, REVOKE, { input: { id: key.id } });
      // A never answered properly (it "died"), but the revocation was committed...
      expect(response.errors?.[0]?.message).toBe('Unexpected error.');
    } finally {
      bus.announce = announce;
    }
    const revoked = await a.db.prisma.apiKey.count({ where: { revokedAt: { not: null } } });
    expect(revoked).toBeGreaterThan(0);
    // ...and B heard it with the commit: it refuses the key now, not at cache expiry (300 s).
    const started = Date.now();
    while ((await statusOn(b, secret)) !== 401) {
      expect(Date.now() - started, 'B still serves the revoked key').toBeLessThan(1000);
    }
  });

  it('announces a change that commits once, and one that rolls back not at all', async () => {
    const { key } = await newKey();
    const count = () => heard.filter((payload) => payload.includes(localId(key.id))).length;
    heard.length = 0;
    expect((await a.graphql(token, REVOKE, { input: { id: key.id } })).data.revokeKey.__typename).toBe('ApiKeyPayload');
    await waitFor(() => heard.length >= 1);
    expect(count()).toBe(1);
    heard.length = 0;
    // Editing a revoked key fails inside its transaction: nothing may be announced for it.
    expect((await a.graphql(token, EDIT, { input: { id: key.id, name: 'renamed' } })).data.editKey.__typename).toBe(
      'KeyRevokedError',
    );
    await quietFor(200); // what an announcement would have taken
    expect(heard).toEqual([]);
  });

  const losers = {
    editKey: (id: string) => a.graphql(token, EDIT, { input: { id, name: 'renamed' } }),
    setIpRules: (id: string) => a.graphql(token, SET_IP_RULES, { input: { keyId: id, rules: RULES } }),
    revokeKey: (id: string) => a.graphql(token, REVOKE, { input: { id } }),
  };
  it.each(Object.keys(losers) as (keyof typeof losers)[])(
    '%s losing to a concurrent revocation reports when the key was really revoked',
    async (field) => {
      const { key } = await newKey();
      const id = localId(key.id);
      const revokedAt = new Date(Date.now() - 90_000);
      // Another session revokes the key and holds the row until the mutation is waiting for it.
      const other = new pg.Client({ connectionString: a.db.storage.kind === 'postgres' ? a.db.storage.url : '' });
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2::uuid', [revokedAt, id]);
        const pending = losers[field](key.id);
        await waitFor(async () => {
          const { rows } = await other.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
          );
          return rows[0].n > 0;
        });
        await other.query('COMMIT');
        const result = ((await pending).data as unknown as Record<string, { __typename: string; revokedAt?: string }>)[
          field
        ]!;
        expect(result.__typename).toBe('KeyRevokedError');
        expect(result.revokedAt).toBe(revokedAt.toISOString());
      } finally {
        await other.end();
      }
    },
  );
});

const localId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;
