// Verification across real server processes: revocation through LISTEN/NOTIFY,
// a dropped notification connection, and last-used data at shutdown.

import {
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  ApiKeyDocument as LAST_USED,
  RevokeKeyDocument as REVOKE,
} from '@keygate/sdk/documents';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../support/database.ts';
import { graphql, type KeygateProcess, runCli, startKeygate, tempDirs } from '../support/process.ts';
import { ok } from '../support/results.ts';
import { waitFor } from '../support/wait.ts';

const dirs = tempDirs();
const dataDir = dirs.make;
afterAll(dirs.removeAll);

const check = (server: KeygateProcess, key: string) =>
  fetch(`${server.url}/v1/auth`, { headers: { 'x-api-key': key } }).then((r) => r.status);

async function setup(server: KeygateProcess, token: string, count: number) {
  const app = ok(
    (await graphql(server.url, token, CREATE_APP, { input: { name: 'Shop' } })).body.data.createApplication,
  ).application.id;
  const keys = [];
  for (let i = 0; i < count; i++)
    keys.push(
      (await graphql(server.url, token, CREATE_KEY, { input: { applicationId: app, name: 'k' } })).body.data.createKey,
    );
  return keys as { secret: string; key: { id: string } }[];
}

describe('two server processes on one PostgreSQL', () => {
  it('a key revoked on one is refused by the other within milliseconds, not at cache expiry', async () => {
    const env = {
      DATABASE_URL: await createPostgresDatabase(),
      KEYGATE_JWT_SECRET: 'x'.repeat(40),
      KEYGATE_DATA_DIR: dataDir(),
    };
    const [a, b] = [await startKeygate(env), await startKeygate(env)];
    try {
      const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
      const keys = await setup(a, token, 10);
      for (const { secret } of keys) expect(await check(b, secret)).toBe(200);
      for (const { secret, key } of keys) {
        // Warm on B (served from B's memory), revoke on A, then ask B until it refuses.
        expect(await check(b, secret)).toBe(200);
        expect((await graphql(a.url, token, REVOKE, { input: { id: key.id } })).body.data.revokeKey.__typename).toBe(
          'ApiKeyPayload',
        );
        const returned = Date.now();
        // B has the notification by the time A's mutation returns (A waits for its own copy); a
        // request that reaches B in that very instant may still pass, so allow a short window.
        while ((await check(b, secret)) !== 401) {
          expect(Date.now() - returned, 'B still accepts the revoked key').toBeLessThan(1000);
        }
      }
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('when the notification connection drops, the cache is bypassed and rebuilt, never stale', async () => {
    const url = await createPostgresDatabase();
    const env = { DATABASE_URL: url, KEYGATE_JWT_SECRET: 'x'.repeat(40), KEYGATE_DATA_DIR: dataDir() };
    const server = await startKeygate(env);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
      const [first, second] = await setup(server, token, 2);
      expect(await check(server, first!.secret)).toBe(200);
      expect(await check(server, second!.secret)).toBe(200);
      const killed = await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [`keygate-invalidation-${server.child.pid}`],
      );
      expect(killed.rowCount).toBe(1);
      await waitFor(() => server.output().includes('invalidation feed lost'));
      // Changes this instance is never told about, as if their notifications were lost during the outage.
      for (const { key } of [first!, second!]) {
        await admin.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1::uuid', [idOf(key.id)]);
      }
      // Both were in memory before the outage; neither may be served from there any more.
      expect(await check(server, first!.secret)).toBe(401);
      await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200);
      expect(await check(server, second!.secret)).toBe(401);
    } finally {
      await admin.end();
      await server.stop();
    }
  });
});

describe('last used', () => {
  it.each(['pglite', 'postgres'])('is written at a clean shutdown (%s)', async (kind) => {
    const env: Record<string, string> = {
      KEYGATE_DATA_DIR: dataDir(),
      KEYGATE_USAGE_FLUSH_MS: '3600000',
      KEYGATE_TRUSTED_PROXIES: '127.0.0.1',
    };
    if (kind === 'postgres')
      Object.assign(env, { DATABASE_URL: await createPostgresDatabase(), KEYGATE_JWT_SECRET: 'x'.repeat(40) });
    const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
    const first = await startKeygate(env);
    let keyId: string;
    try {
      const [{ secret, key }] = (await setup(first, token, 1)) as [{ secret: string; key: { id: string } }];
      keyId = key.id;
      const response = await fetch(`${first.url}/v1/auth`, {
        headers: { 'x-api-key': secret, 'x-forwarded-for': '198.51.100.23' },
      });
      expect(response.status).toBe(200);
    } finally {
      expect(await first.stop('SIGTERM')).toBe(0);
    }
    const second = await startKeygate(env);
    try {
      const { body } = await graphql(second.url, token, LAST_USED, { id: keyId });
      expect(body.data.apiKey!.lastUsedIp).toBe('198.51.100.23');
      expect(Date.parse(body.data.apiKey!.lastUsedAt!)).toBeGreaterThan(Date.now() - 120_000);
    } finally {
      await second.stop();
    }
  });
});

function idOf(globalId: string): string {
  return Buffer.from(globalId, 'base64').toString().split(':')[1]!;
}
