// Read replicas for cache misses, on PostgreSQL's own streaming replication: a throwaway primary
// and a hot standby made from it with pg_basebackup, two instances of the production command with
// KEYGATE_REPLICA_DATABASE_URLS. While the standby's replay is paused, a key revoked on the primary
// is refused on the next request by both instances and every miss reads the primary; after the
// replay resumes misses read the replica again; with the replica gone, verification goes on from
// the primary and /readyz says degraded.
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { hashKey } from '@keygate/core';
import {
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  RevokeKeyDocument as REVOKE,
} from '@keygate/sdk/documents';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../support/database.ts';
import { type Cluster, startCluster, startReplica } from '../support/postgres-cluster.ts';
import { graphql, type KeygateProcess, repoRoot, runCli, startKeygate, tempDirs } from '../support/process.ts';
import { ok } from '../support/results.ts';

const dirs = tempDirs();
afterAll(dirs.removeAll);
const production = [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')];
const METRICS = 'metrics-token-for-the-replica-test';

const check = async (server: KeygateProcess, key: string) =>
  (await fetch(`${server.url}/v1/auth`, { headers: { 'x-api-key': key } })).headers.get('x-keygate-code') ?? 'VALID';

/** keygate_key_loads_total by source, as /metrics says it. */
async function loads(server: KeygateProcess): Promise<{ replica: number; primary: number }> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } })).text();
  const read = (source: string) =>
    Number(new RegExp(`^keygate_key_loads_total\\{source="${source}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { replica: read('replica'), primary: read('primary') };
}

async function readiness(server: KeygateProcess) {
  const response = await fetch(`${server.url}/readyz`);
  return {
    status: response.status,
    body: (await response.json()) as {
      status: string;
      replicas?: { fresh: boolean; up: boolean; lagBytes: number | null }[];
    },
  };
}

async function onReplica<T>(cluster: Cluster, sql: string): Promise<T> {
  const client = new pg.Client({ connectionString: cluster.url });
  await client.connect();
  try {
    return (await client.query(sql)).rows[0] as T;
  } finally {
    await client.end();
  }
}

describe('read replicas for cache misses', () => {
  it('reads misses from a replica only once it replayed the latest change; a paused or lost replica costs nothing but the primary', async () => {
    const primary = await startCluster();
    let replica: Cluster | null = null;
    let a: KeygateProcess | undefined;
    let b: KeygateProcess | undefined;
    try {
      replica = await startReplica(primary);
      const env = {
        DATABASE_URL: primary.url,
        KEYGATE_REPLICA_DATABASE_URLS: replica.url,
        KEYGATE_REPLICA_POLL_MS: '50',
        KEYGATE_METRICS_TOKEN: METRICS,
        KEYGATE_JWT_SECRET: 'x'.repeat(40),
        KEYGATE_DATA_DIR: dirs.make(),
      };
      a = await startKeygate(env, production, repoRoot);
      b = await startKeygate(env, production, repoRoot);
      const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
      const service = runCli('src/cli/token.ts', ['--verifier'], env).stdout;
      // What an embedded verifier asks on a miss: the key's record by the hash of its secret.
      const record = async (server: KeygateProcess, secret: string) =>
        (await (
          await fetch(`${server.url}/v1/verifier/keys/${hashKey(secret)}`, {
            headers: { authorization: `Bearer ${service}` },
          })
        ).json()) as { found: boolean; key?: { revoked: boolean } };
      const app = ok(
        (await graphql(a.url, token, CREATE_APP, { input: { name: 'Replicated' } })).body.data.createApplication,
      ).application.id as string;
      const keys: { secret: string; id: string }[] = [];
      for (let i = 0; i < 30; i++) {
        const created = ok(
          (await graphql(i % 2 ? a.url : b.url, token, CREATE_KEY, { input: { applicationId: app, name: `k${i}` } }))
            .body.data.createKey,
        );
        keys.push({ secret: created.secret, id: created.key.id });
      }
      const fresh = async (server: KeygateProcess) => (await readiness(server)).body.replicas?.[0]?.fresh === true;
      for (const server of [a, b]) {
        await expect.poll(() => fresh(server), { timeout: 10_000 }).toBe(true);
        const r = await readiness(server);
        expect(r.status).toBe(200);
        expect(r.body.status).toBe('ready');
      }

      // Caught up: misses read the replica, on both instances.
      let next = 0;
      for (const server of [a, b]) {
        const before = await loads(server);
        for (let i = 0; i < 4; i++) expect(await check(server, keys[next++]!.secret)).toBe('VALID');
        const after = await loads(server);
        expect(after.replica - before.replica).toBe(4);
        expect(after.primary - before.primary).toBe(0);
      }

      // Replay paused: the replica holds the data as it is now, and never learns of the revocations.
      await onReplica(replica, 'SELECT pg_wal_replay_pause()');
      await expect
        .poll(
          async () =>
            (await onReplica<{ state: string }>(replica!, 'SELECT pg_get_wal_replay_pause_state() AS state')).state,
        )
        .toBe('paused');
      const cached = keys[0]!; // verified on A above: in A's memory
      const uncached = keys[next++]!; // verified nowhere yet: a miss on both
      expect(await check(b, cached.secret)).toBe('VALID'); // now in B's memory too (a miss read while fresh)
      const beforePause = { a: await loads(a), b: await loads(b) };
      for (const key of [cached, uncached]) {
        const revoked = await graphql(a.url, token, REVOKE, { input: { id: key.id } });
        expect(revoked.body.data.revokeKey.__typename).toBe('ApiKeyPayload');
        // The next request on either instance: refused, although the replica still says the key is good.
        expect(await check(b, key.secret)).toBe('REVOKED');
        expect(await check(a, key.secret)).toBe('REVOKED');
      }
      // Embedded verifiers' misses too: the record says revoked.
      for (const server of [a, b]) expect((await record(server, uncached.secret)).key?.revoked).toBe(true);
      // Other misses during the pause: correct, from the primary.
      for (const server of [a, b])
        for (let i = 0; i < 3; i++) expect(await check(server, keys[next++]!.secret)).toBe('VALID');
      const duringPause = { a: await loads(a), b: await loads(b) };
      for (const side of ['a', 'b'] as const) {
        expect(duringPause[side].replica - beforePause[side].replica).toBe(0);
        expect(duringPause[side].primary - beforePause[side].primary).toBeGreaterThanOrEqual(6);
      }
      const paused = await readiness(a);
      expect(paused.body.replicas?.[0]).toMatchObject({ up: true, fresh: false });
      expect(paused.body.replicas?.[0]?.lagBytes).toBeGreaterThan(0);
      // The replica itself still has the keys unrevoked: a read there would have been wrong.
      const seen = await onReplica<{ revoked: string }>(
        replica,
        'SELECT count(*) FILTER (WHERE revoked_at IS NOT NULL) AS revoked FROM api_keys',
      );
      expect(Number(seen.revoked)).toBe(0);

      // Replay resumed: once it replayed the revocations, misses read the replica again.
      await onReplica(replica, 'SELECT pg_wal_replay_resume()');
      for (const server of [a, b]) await expect.poll(() => fresh(server), { timeout: 10_000 }).toBe(true);
      const resumed = { a: await loads(a), b: await loads(b) };
      for (const server of [a, b]) {
        for (let i = 0; i < 2; i++) expect(await check(server, keys[next++]!.secret)).toBe('VALID');
        expect((await record(server, cached.secret)).key?.revoked).toBe(true); // replayed now
      }
      for (const [side, server] of [
        ['a', a],
        ['b', b],
      ] as const) {
        const after = await loads(server);
        expect(after.replica - resumed[side].replica).toBe(3);
        expect(after.primary - resumed[side].primary).toBe(0);
      }

      // The replica gone: verification goes on from the primary; ready, but degraded.
      replica.stop();
      replica = null;
      for (const server of [a, b]) {
        await expect.poll(async () => (await readiness(server)).body.status, { timeout: 10_000 }).toBe('degraded');
        const r = await readiness(server);
        expect(r.status).toBe(200);
        expect(r.body.replicas?.[0]).toMatchObject({ up: false, fresh: false });
        for (let i = 0; i < 2; i++) expect(await check(server, keys[next++]!.secret)).toBe('VALID');
        expect(await check(server, uncached.secret)).toBe('REVOKED');
        expect(server.output()).toContain('is unavailable');
      }
      expect(next).toBeLessThanOrEqual(keys.length);
    } finally {
      await Promise.all([a?.stop(), b?.stop()]);
      replica?.stop();
      primary.stop();
    }
  });

  it('sets aside a replica that accepts connections and never answers; misses do not wait on it', async () => {
    // A "replica" that takes the TCP connection and says nothing, ever.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const env = {
      DATABASE_URL: await createPostgresDatabase(),
      KEYGATE_REPLICA_DATABASE_URLS: `postgres://keygate:s3cret-replica-pw@127.0.0.1:${port}/keygate`,
      KEYGATE_METRICS_TOKEN: METRICS,
      KEYGATE_JWT_SECRET: 'x'.repeat(40),
      KEYGATE_DATA_DIR: dirs.make(),
    };
    let server: KeygateProcess | undefined;
    try {
      server = await startKeygate(env, production, repoRoot);
      const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
      const app = ok(
        (await graphql(server.url, token, CREATE_APP, { input: { name: 'Silent' } })).body.data.createApplication,
      ).application.id as string;
      const created = ok(
        (await graphql(server.url, token, CREATE_KEY, { input: { applicationId: app, name: 'k' } })).body.data
          .createKey,
      );
      const t0 = Date.now();
      expect(await check(server, created.secret)).toBe('VALID');
      expect(Date.now() - t0).toBeLessThan(1500);
      await expect.poll(async () => (await readiness(server!)).body.status, { timeout: 10_000 }).toBe('degraded');
      const r = await readiness(server);
      expect(r.status).toBe(200);
      // Anyone may ask /readyz: it says the state, never the replica's address or password.
      expect(JSON.stringify(r.body)).not.toContain(String(port));
      expect(server.output()).not.toContain('s3cret-replica-pw');
      expect((await loads(server)).replica).toBe(0);
    } finally {
      await server?.stop();
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('a replica that stops answering mid-run costs a miss at most a second, then is read again once back', async () => {
    const primary = await startCluster();
    let replica: Cluster | null = null;
    let server: KeygateProcess | undefined;
    // A TCP relay in front of the replica that can be frozen: connections stay open, nothing passes.
    let frozen = false;
    const held: Socket[] = [];
    const relay = createServer((client) => {
      const upstream = connect(Number(new URL(replica!.url).port), '127.0.0.1');
      held.push(client, upstream);
      client.on('data', (chunk) => {
        if (!frozen) upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (!frozen) client.write(chunk);
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    try {
      replica = await startReplica(primary);
      await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
      const env = {
        DATABASE_URL: primary.url,
        KEYGATE_REPLICA_DATABASE_URLS: `postgres://keygate@127.0.0.1:${(relay.address() as { port: number }).port}/postgres`,
        KEYGATE_REPLICA_POLL_MS: '50',
        KEYGATE_METRICS_TOKEN: METRICS,
        KEYGATE_JWT_SECRET: 'x'.repeat(40),
        KEYGATE_DATA_DIR: dirs.make(),
      };
      server = await startKeygate(env, production, repoRoot);
      const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
      const app = ok(
        (await graphql(server.url, token, CREATE_APP, { input: { name: 'Frozen' } })).body.data.createApplication,
      ).application.id as string;
      const secrets: string[] = [];
      for (let i = 0; i < 4; i++) {
        secrets.push(
          ok(
            (await graphql(server.url, token, CREATE_KEY, { input: { applicationId: app, name: `k${i}` } })).body.data
              .createKey,
          ).secret,
        );
      }
      const fresh = async () => (await readiness(server!)).body.replicas?.[0]?.fresh === true;
      await expect.poll(fresh, { timeout: 10_000 }).toBe(true);
      expect(await check(server, secrets[0]!)).toBe('VALID');
      expect((await loads(server)).replica).toBe(1);

      frozen = true;
      const t0 = Date.now();
      expect(await check(server, secrets[1]!)).toBe('VALID'); // the replica's timeout, then the primary
      expect(Date.now() - t0).toBeLessThan(2000);
      expect((await loads(server)).primary).toBeGreaterThanOrEqual(1);
      await expect.poll(async () => (await readiness(server!)).body.status, { timeout: 10_000 }).toBe('degraded');
      const t1 = Date.now();
      expect(await check(server, secrets[2]!)).toBe('VALID'); // set aside: straight to the primary
      expect(Date.now() - t1).toBeLessThan(500);

      frozen = false;
      for (const socket of held.splice(0)) socket.destroy(); // what was cut mid-message reconnects
      await expect.poll(async () => (await readiness(server!)).body.status, { timeout: 10_000 }).toBe('ready');
      await expect.poll(fresh, { timeout: 10_000 }).toBe(true);
      const before = (await loads(server)).replica;
      expect(await check(server, secrets[3]!)).toBe('VALID');
      expect((await loads(server)).replica).toBe(before + 1);
    } finally {
      await server?.stop();
      for (const socket of held) socket.destroy();
      relay.close();
      replica?.stop();
      primary.stop();
    }
  });
});
