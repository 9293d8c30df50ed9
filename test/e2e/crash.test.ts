// Crash safety: a server killed with SIGKILL in the middle of a burst of
// createKey calls, then restarted on the same data, opens without repair, and
// every key whose secret reached a client verifies, with its audit event.
import { CreateApplicationDocument as CREATE_APP, CreateKeyDocument as CREATE_KEY } from '@keygate/sdk/documents';
import { afterAll, describe, expect, it } from 'vitest';
import { KeysAndTheirEventsDocument } from '../generated/graphql.ts';
import { createPostgresDatabase } from '../support/database.ts';
import { graphql, runCli, startKeygate, tempDirs } from '../support/process.ts';
import { ok } from '../support/results.ts';
import { waitFor } from '../support/wait.ts';

const dirs = tempDirs('keygate-crash-');
afterAll(dirs.removeAll);

describe.each(['pglite', 'postgres'] as const)('killed during a burst of createKey (%s)', (kind) => {
  it('restarts on the same data, and every returned secret verifies', async () => {
    const env: Record<string, string> = { KEYGATE_DATA_DIR: dirs.make(), KEYGATE_MAX_KEYS_PER_APPLICATION: '100000' };
    if (kind === 'postgres')
      Object.assign(env, { DATABASE_URL: await createPostgresDatabase(), KEYGATE_JWT_SECRET: 'c'.repeat(40) });
    const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
    const first = await startKeygate(env);
    const app = ok(
      (await graphql(first.url, token, CREATE_APP, { input: { name: 'Crash' } })).body.data.createApplication,
    ).application.id;

    const returned: string[] = [];
    let stop = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const { body } = await graphql(first.url, token, CREATE_KEY, {
            input: { applicationId: app, name: `w${w}-${i}` },
          });
          const created = body.data?.createKey;
          if (created?.__typename === 'CreateKeyPayload') returned.push(created.secret);
        } catch {
          return; // the server is gone
        }
      }
    };
    const workers = Array.from({ length: 16 }, (_, w) => worker(w));
    await waitFor(() => returned.length >= 150, 30_000, '150 answers');
    // Mid-burst: requests are in flight when the process dies.
    await first.stop('SIGKILL');
    stop = true;
    await Promise.all(workers);
    expect(returned.length).toBeGreaterThanOrEqual(150);

    const second = await startKeygate(env);
    try {
      for (const secret of returned) {
        const response = await fetch(`${second.url}/v1/auth`, { headers: { 'x-api-key': secret } });
        expect(response.status, secret.slice(0, 12)).toBe(200);
      }
      const listed = await graphql(second.url, token, KeysAndTheirEventsDocument, { id: app });
      const keys = listed.body.data.application!.keys.totalCount;
      expect(keys).toBeGreaterThanOrEqual(returned.length);
      // Written in one transaction: no key without its audit event, and no event without its key.
      expect(listed.body.data.auditEvents.totalCount).toBe(keys);
      expect(listed.body.data.auditEvents.edges[0]?.node.clientIp).toBe('127.0.0.1');
    } finally {
      await second.stop();
    }
  });
});
