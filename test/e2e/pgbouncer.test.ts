// PostgreSQL behind a real PgBouncer in transaction pooling mode: two instances of the
// production command send their queries through the pooler and LISTEN (and migrate) on
// a direct connection, KEYGATE_LISTEN_DATABASE_URL. Revocation still reaches the other
// instance on the next request; transactions, metering and row locks work pooled.
import { join } from 'node:path';
import { generateKey } from '@keygate/core';
import {
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  RevokeKeyDocument as REVOKE,
} from '@keygate/sdk/documents';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../support/database.ts';
import { startPgBouncer } from '../support/pgbouncer.ts';
import { graphql, type KeygateProcess, repoRoot, runCli, startKeygate, tempDirs } from '../support/process.ts';
import { ok } from '../support/results.ts';

const dirs = tempDirs();
afterAll(dirs.removeAll);
const production = [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')];

const check = (server: KeygateProcess, key: string) =>
  fetch(`${server.url}/v1/auth`, { headers: { 'x-api-key': key } });

describe('behind PgBouncer (transaction pooling)', () => {
  it('serves two instances through the pooler; revocation reaches the other on the next request', async () => {
    const direct = await createPostgresDatabase();
    const database = new URL(direct).pathname.slice(1);
    const bouncer = await startPgBouncer(direct, 4);
    const env = {
      DATABASE_URL: bouncer.url,
      KEYGATE_LISTEN_DATABASE_URL: direct,
      KEYGATE_DB_POOL_SIZE: '10',
      KEYGATE_JWT_SECRET: 'x'.repeat(40),
      KEYGATE_DATA_DIR: dirs.make(),
    };
    let a: KeygateProcess | undefined;
    let b: KeygateProcess | undefined;
    try {
      a = await startKeygate(env, production, repoRoot);
      b = await startKeygate(env, production, repoRoot);
      const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
      const before = await bouncer.stats(database);

      // Many interactive transactions at once, more than the pooler's 4 server connections.
      const apps = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          graphql(a!.url, token, CREATE_APP, { input: { name: `Pooled ${i}` } }).then(
            (r) => ok(r.body.data.createApplication).application.id as string,
          ),
        ),
      );
      const created = await Promise.all(
        apps.map((applicationId, i) =>
          graphql(i % 2 ? a!.url : b!.url, token, CREATE_KEY, { input: { applicationId, name: 'k' } }).then(
            (r) => r.body.data.createKey as { secret: string; key: { id: string } },
          ),
        ),
      );
      expect(created.every((c) => c.secret.startsWith('kg_'))).toBe(true);

      let firstRefused = 0;
      for (const { secret, key } of created.slice(0, 10)) {
        expect((await check(b, secret)).status).toBe(200); // cached on B
        const revoked = await graphql(a.url, token, REVOKE, { input: { id: key.id } });
        expect(revoked.body.data.revokeKey.__typename).toBe('ApiKeyPayload');
        const returned = Date.now();
        if ((await check(b, secret)).status === 401) firstRefused++;
        while ((await check(b, secret)).status !== 401) {
          expect(Date.now() - returned, 'B still accepts the revoked key').toBeLessThan(1000);
        }
      }
      // The notification is delivered to both listeners at once (measured 100 of 100 without a
      // pooler); B reading the gateway's request before its notification is the only way to miss.
      expect(firstRefused).toBeGreaterThanOrEqual(9);

      // Misses at once, more than the pooler's server connections: the key loads (sent as a named
      // statement on direct connections, which the pooler does not keep) are all answered.
      const unknown = Array.from({ length: 20 }, () => generateKey('live').secret);
      const misses = await Promise.all(
        [...unknown, ...created.slice(10).map((c) => c.secret)].flatMap((key) => [check(a!, key), check(b!, key)]),
      );
      const codes = misses.map((r) => `${r.status} ${r.headers.get('x-keygate-code') ?? ''}`.trim());
      expect(codes.slice(0, 40)).toEqual(Array(40).fill('401 NOT_FOUND'));
      expect(codes.slice(40)).toEqual(Array(4).fill('200 VALID'));

      // Metering's reservations (one statement under a row lock) through the pooler: never overspent.
      const metered = (
        await graphql(
          a.url,
          token,
          `mutation($input: CreateKeyInput!) { createKey(input: $input) { ... on CreateKeyPayload { secret } } }`,
          { input: { applicationId: apps[11], name: 'metered', credits: { remaining: 5 } } },
        )
      ).body.data.createKey.secret as string;
      const answers = [];
      for (let i = 0; i < 8; i++) answers.push((await check(i % 2 ? a : b, metered)).status);
      expect(answers.filter((s) => s === 200)).toHaveLength(5);
      expect(answers.filter((s) => s === 429)).toHaveLength(3);

      // It all went through PgBouncer, and PostgreSQL saw no more pooled connections than its pool.
      const after = await bouncer.stats(database);
      expect(after.transactions - before.transactions).toBeGreaterThan(40);
      const admin = new pg.Client({ connectionString: direct });
      await admin.connect();
      try {
        const { rows } = await admin.query(
          `SELECT application_name FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [database],
        );
        const listeners = rows.filter((r) => r.application_name.startsWith('keygate-invalidation-'));
        expect(listeners).toHaveLength(2); // one direct LISTEN connection per instance
        expect(rows.length - listeners.length).toBeLessThanOrEqual(bouncer.poolSize);
      } finally {
        await admin.end();
      }
      expect(a.output()).not.toMatch(/"level":(40|50|60)/);
      expect(b.output()).not.toMatch(/"level":(40|50|60)/);
    } finally {
      await Promise.all([a?.stop(), b?.stop()]);
      await bouncer.stop();
    }
  });

  it('without KEYGATE_LISTEN_DATABASE_URL: says what to fix, is not ready, and stays correct', async () => {
    const direct = await createPostgresDatabase();
    const bouncer = await startPgBouncer(direct, 4);
    // Everything through the pooler, LISTEN included: its session goes back to the pool and hears nothing.
    const env = {
      DATABASE_URL: bouncer.url,
      KEYGATE_JWT_SECRET: 'x'.repeat(40),
      KEYGATE_DATA_DIR: dirs.make(),
    };
    const migrated = runCli('src/cli/migrate.ts', [], { ...env, DATABASE_URL: direct });
    expect(migrated.status).toBe(0);
    let a: KeygateProcess | undefined;
    let b: KeygateProcess | undefined;
    try {
      a = await startKeygate(env, production, repoRoot);
      b = await startKeygate(env, production, repoRoot);
      for (const server of [a, b]) {
        await expect.poll(() => server.output(), { timeout: 10_000 }).toContain('hears nothing');
        expect(server.output()).toContain('set KEYGATE_LISTEN_DATABASE_URL to a direct connection');
        expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
      }
      const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
      const app = ok((await graphql(a.url, token, CREATE_APP, { input: { name: 'Deaf' } })).body.data.createApplication)
        .application.id;
      const { secret, key } = ok(
        (await graphql(a.url, token, CREATE_KEY, { input: { applicationId: app, name: 'k' } })).body.data.createKey,
      );
      expect((await check(b, secret)).status).toBe(200);
      expect((await graphql(a.url, token, REVOKE, { input: { id: key.id } })).body.data.revokeKey.__typename).toBe(
        'ApiKeyPayload',
      );
      // B hears nothing, so it trusts no cache: the very next request reads the revocation.
      expect((await check(b, secret)).status).toBe(401);
    } finally {
      await Promise.all([a?.stop(), b?.stop()]);
      await bouncer.stop();
    }
  });
});
