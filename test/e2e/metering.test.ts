// Metering across real server processes on one PostgreSQL, under load: credits
// are spent exactly (never over, none stranded), rate limits hold in every
// window and are used to at least 95 % at saturation, and an instance killed
// with SIGKILL mid-load can only make a quota end early, never overspend it.
import { Agent, request } from 'node:http';
import {
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  type CreateKeyInput,
} from '@keygate/sdk/documents';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../support/database.ts';
import { graphql, type KeygateProcess, runCli, startKeygate, tempDirs } from '../support/process.ts';
import { ok } from '../support/results.ts';
import { waitFor } from '../support/wait.ts';

const dirs = tempDirs();
afterAll(dirs.removeAll);
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
afterAll(() => agent.destroy());

/** GET /v1/auth with the key; the status and the headers a gateway acts on. */
function forwardAuth(server: KeygateProcess, key: string, query = '') {
  return new Promise<{ status: number; code: string; headers: Record<string, string | string[] | undefined> }>(
    (resolve, reject) => {
      const req = request(`${server.url}/v1/auth${query}`, { agent, headers: { 'x-api-key': key } }, (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode!, code: String(res.headers['x-keygate-code']), headers: res.headers }),
        );
      });
      req.on('error', reject);
      req.end();
    },
  );
}

const VERIFY = `mutation Verify($input: VerifyKeyInput!) {
  verifyKey(input: $input) { ... on KeyVerification { code rateLimits { name remaining resetAt } } }
}`;

async function cluster(count: number) {
  const url = await createPostgresDatabase();
  const env = { DATABASE_URL: url, KEYGATE_JWT_SECRET: 'x'.repeat(40) };
  const servers: KeygateProcess[] = [];
  const start = async () => {
    const server = await startKeygate({ ...env, KEYGATE_DATA_DIR: dirs.make() });
    servers.push(server);
    return server;
  };
  for (let i = 0; i < count; i++) await start();
  const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
  const verifierToken = runCli('src/cli/token.ts', ['--verifier'], env).stdout;
  const app = ok(
    (await graphql(servers[0]!.url, token, CREATE_APP, { input: { name: 'Plans' } })).body.data.createApplication,
  ).application.id;
  const createKey = async (input: Partial<CreateKeyInput>) =>
    (await graphql(servers[0]!.url, token, CREATE_KEY, { input: { applicationId: app, name: 'plan', ...input } })).body
      .data.createKey as { secret: string; key: { id: string } };
  /** The key's credit columns, read directly. */
  const credits = async (secretPrefix: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(
        'SELECT credits_remaining AS remaining, credits_reserved AS reserved FROM api_keys WHERE prefix = $1',
        [secretPrefix],
      );
      return rows[0] as { remaining: number; reserved: number };
    } finally {
      await client.end();
    }
  };
  return { env, servers, start, token, verifierToken, createKey, credits };
}

const prefixOf = (secret: string) => secret.slice(0, 12);

describe('two server processes on one PostgreSQL', () => {
  it('1,000 credits and 4,000 concurrent verifications split between them: exactly 1,000 VALID', async () => {
    const { servers, createKey, credits } = await cluster(2);
    try {
      const { secret } = await createKey({ credits: { remaining: 1000 } });
      // Both instances know the key first; a cost of 0 spends nothing.
      for (const server of servers) {
        const warm = await forwardAuth(server, secret, '?cost=0');
        expect(warm.status).toBe(200);
      }
      const answers = await Promise.all(Array.from({ length: 4000 }, (_, i) => forwardAuth(servers[i % 2]!, secret)));
      const valid = answers.filter((a) => a.status === 200);
      expect(valid).toHaveLength(1000);
      const others = answers.filter((a) => a.status !== 200 && a.code !== 'USAGE_EXCEEDED');
      expect(others.map((a) => `${a.status} ${a.code}`)).toEqual([]);
      expect(answers.filter((a) => a.status === 429 && a.code === 'USAGE_EXCEEDED')).toHaveLength(3000);
      expect(answers.every((a) => a.headers['x-keygate-credits-remaining'] !== undefined)).toBe(true);
      // Graceful stops give back what was reserved and write what was spent: the pool is exactly empty.
      await Promise.all(servers.map((s) => s.stop()));
      expect(await credits(prefixOf(secret))).toEqual({ remaining: 0, reserved: 0 });
    } finally {
      await stopAll(servers);
    }
  });

  it('a rate limit of 100 per 10 s under saturating load from both for 30 s: at most 100, at least 95 per window', async () => {
    const { servers, createKey, verifierToken } = await cluster(2);
    try {
      const { secret } = await createKey({ rateLimits: [{ name: 'plan', limit: 100, windowSeconds: 10 }] });
      const accepted = new Map<string, number>();
      let refused = 0;
      const started = Date.now();
      const until = started + 30_000;
      const worker = async (server: KeygateProcess) => {
        while (Date.now() < until) {
          const { body } = await graphql(server.url, verifierToken, VERIFY, { input: { key: secret } });
          const result = body.data.verifyKey;
          if (result.code === 'VALID') {
            const resetAt = result.rateLimits[0].resetAt as string;
            accepted.set(resetAt, (accepted.get(resetAt) ?? 0) + 1);
          } else {
            expect(result.code).toBe('RATE_LIMITED');
            refused++;
          }
        }
      };
      await Promise.all(servers.flatMap((server) => Array.from({ length: 8 }, () => worker(server))));
      const ended = Date.now();
      expect(refused).toBeGreaterThan(1000);
      for (const [resetAt, count] of accepted) expect(count, `window ending ${resetAt}`).toBeLessThanOrEqual(100);
      const full = [...accepted].filter(([resetAt]) => {
        const end = Date.parse(resetAt);
        return end - 10_000 >= started && end <= ended;
      });
      expect(full.length).toBeGreaterThanOrEqual(2);
      for (const [resetAt, count] of full) expect(count, `full window ending ${resetAt}`).toBeGreaterThanOrEqual(95);
    } finally {
      await stopAll(servers);
    }
  }, 60_000);

  it('an instance killed with SIGKILL mid-load and restarted: total VALID never exceeds the credits', async () => {
    const { servers, start, createKey, credits } = await cluster(2);
    try {
      const { secret } = await createKey({ credits: { remaining: 2000 } });
      let valid = 0;
      let [a, b] = servers as [KeygateProcess, KeygateProcess];
      let stopLoad = false;
      const worker = async (pick: () => KeygateProcess) => {
        while (!stopLoad) {
          const answer = await forwardAuth(pick(), secret).catch(() => null);
          if (answer?.status === 200) valid++;
        }
      };
      const load = [
        ...Array.from({ length: 6 }, () => worker(() => a)),
        ...Array.from({ length: 6 }, () => worker(() => b)),
      ];
      await waitFor(() => valid >= 500);
      await a.stop('SIGKILL');
      a = await start();
      await waitFor(() => valid >= 1500);
      await b.stop('SIGKILL');
      b = await start();
      // Until the quota is used up everywhere.
      await waitFor(async () => (await forwardAuth(a, secret)).code === 'USAGE_EXCEEDED');
      await waitFor(async () => (await forwardAuth(b, secret)).code === 'USAGE_EXCEEDED');
      stopLoad = true;
      await Promise.all(load);
      expect(valid).toBeLessThanOrEqual(2000);
      // Each kill loses at most what that instance held: a fraction of the pool, never the quota.
      expect(valid).toBeGreaterThan(2000 - 2 * 260);
      await Promise.all([a.stop(), b.stop()]);
      const left = await credits(prefixOf(secret));
      expect(left.remaining).toBe(0);
    } finally {
      await stopAll(servers);
    }
  }, 90_000);
});

/** Stops what is still running (a killed process is gone already). */
async function stopAll(servers: KeygateProcess[]): Promise<void> {
  await Promise.all(servers.map((s) => (s.child.exitCode === null && s.child.signalCode === null ? s.stop() : null)));
}
