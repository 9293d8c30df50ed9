// Webhooks across a crash: a server killed with SIGKILL after a change has
// committed but before its event was sent delivers the event after a restart
// (the outbox is in the database, not in the process), signed as the
// standardwebhooks package expects.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateApplicationDocument as CREATE_APP,
  CreateWebhookEndpointDocument as CREATE_ENDPOINT,
  CreateKeyDocument as CREATE_KEY,
} from '@keygate/sdk/documents';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../support/database.ts';
import { graphql, runCli, startKeygate, tempDirs } from '../support/process.ts';
import { ok } from '../support/results.ts';
import { quietFor, waitFor } from '../support/wait.ts';

const dirs = tempDirs('keygate-webhooks-');
afterAll(dirs.removeAll);

describe.each(['pglite', 'postgres'] as const)('killed between a change and its delivery (%s)', (kind) => {
  it('delivers the event after the restart, once', async () => {
    const received: { headers: Record<string, string>; body: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        received.push({ headers: req.headers as Record<string, string>, body });
        res.writeHead(200);
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    const env: Record<string, string> = {
      KEYGATE_DATA_DIR: dirs.make(),
      KEYGATE_WEBHOOKS_ALLOW_INSECURE: '1',
      KEYGATE_WEBHOOKS_ALLOW_PRIVATE: '1',
    };
    if (kind === 'postgres')
      Object.assign(env, { DATABASE_URL: await createPostgresDatabase(), KEYGATE_JWT_SECRET: 'w'.repeat(40) });
    const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
    try {
      // A worker that looks for due deliveries only once a minute: nothing is sent before the kill.
      const first = await startKeygate({ ...env, KEYGATE_WEBHOOK_POLL_MS: '60000' });
      const endpoint = (await graphql(first.url, token, CREATE_ENDPOINT, { input: { url, events: ['KEY_CREATED'] } }))
        .body.data.createWebhookEndpoint;
      const app = ok(
        (await graphql(first.url, token, CREATE_APP, { input: { name: 'Crash' } })).body.data.createApplication,
      ).application.id;
      const key = (await graphql(first.url, token, CREATE_KEY, { input: { applicationId: app, name: 'k' } })).body.data
        .createKey;
      expect(ok(key).secret).toMatch(/^kg_live_/);
      await first.stop('SIGKILL');
      expect(received).toHaveLength(0);

      const second = await startKeygate({ ...env, KEYGATE_WEBHOOK_POLL_MS: '50' });
      try {
        await waitFor(() => received.length > 0, 20_000, 'the delivery');
        await quietFor(300); // what a second delivery would have taken
        expect(received).toHaveLength(1);
        const event = new Webhook(ok(endpoint).signingSecret).verify(received[0]!.body, received[0]!.headers) as {
          type: string;
          data: { id: string };
        };
        expect(event).toMatchObject({ type: 'key.created', data: { id: ok(key).key.id } });
        expect(received[0]!.body).not.toContain(ok(key).secret);
      } finally {
        await second.stop();
      }
    } finally {
      receiver.close();
    }
  }, 90_000);
});
