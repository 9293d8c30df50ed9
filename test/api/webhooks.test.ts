// Webhooks end to end: endpoints managed through the API, events written with
// the change they describe (the outbox), delivered by the server's worker to a
// real HTTP receiver on loopback, every request verified with the
// `standardwebhooks` package (a peer's implementation, not ours).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { createKeygateClient, verifyWebhook, WebhookVerificationError } from '@keygate/sdk';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';
import { quietFor, waitFor } from '../support/wait.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  payload: { type: string; timestamp: string; data: Record<string, unknown> };
}

/** A webhook receiver on loopback; `failures` answers 500 that many times first. */
async function receiver(options: { failures?: number } = {}) {
  const received: Received[] = [];
  let failures = options.failures ?? 0;
  let requests = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      requests++;
      if (failures > 0) {
        failures--;
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('temporarily broken');
        return;
      }
      received.push({ headers: req.headers, body, payload: JSON.parse(body) });
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let db: TestDatabase;
let s: TestServer;
let sdk: ReturnType<typeof createKeygateClient>;
let token: string;
const DEV = {
  KEYGATE_WEBHOOKS_ALLOW_INSECURE: '1',
  KEYGATE_WEBHOOKS_ALLOW_PRIVATE: '1',
  KEYGATE_WEBHOOK_POLL_MS: '20',
  KEYGATE_WEBHOOK_RETRY_BASE_MS: '40',
};

const ENDPOINT = `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
  __typename ... on CreateWebhookEndpointPayload { signingSecret endpoint { id url events enabled } }
  ... on ValidationError { issues { path message } } } }`;
const DELIVERIES = `query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { enabled disabledReason
  deliveries(first: 100) { edges { node { eventId eventType status attempts lastStatusCode lastError } } } } } }`;

beforeAll(async () => {
  db = await openTestDatabase();
  s = await startTestServer(DEV, db);
  token = await s.merchantToken('acme');
  sdk = createKeygateClient({ url: `${s.url}/graphql`, token });
});
afterAll(async () => {
  await s?.close();
  await db?.close();
});

async function endpoint(url: string, events: string[], as = token) {
  const result = await s.graphql(as, ENDPOINT, { input: { url, events, description: 'tests' } });
  const created = result.data.createWebhookEndpoint;
  if (created.__typename !== 'CreateWebhookEndpointPayload') throw new Error(JSON.stringify(created));
  return created as { signingSecret: string; endpoint: { id: string } };
}

describe('delivery', () => {
  it('sends each event type it is subscribed to, signed so that standardwebhooks verifies it', async () => {
    const hooks = await receiver();
    const all = [
      'KEY_CREATED',
      'KEY_UPDATED',
      'KEY_ROLLED',
      'KEY_REVOKED',
      'KEY_ENABLED',
      'KEY_DISABLED',
      'APPLICATION_CREATED',
      'APPLICATION_UPDATED',
      'APPLICATION_ENABLED',
      'APPLICATION_DISABLED',
    ];
    const { signingSecret, endpoint: created } = await endpoint(hooks.url, all);
    expect(signingSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const app = await sdk.applications.create({ name: 'Hooked' });
    if (!app.ok) throw new Error('setup');
    await sdk.applications.update({ id: app.value.id, name: 'Hooked, renamed' });
    await sdk.applications.setEnabled(app.value.id, false);
    await sdk.applications.setEnabled(app.value.id, true);
    const key = await sdk.keys.create({ applicationId: app.value.id, name: 'k', externalId: 'cus_1' });
    if (!key.ok) throw new Error('setup');
    await sdk.keys.edit({ id: key.value.key.id, name: 'k2' });
    await sdk.keys.setEnabled(key.value.key.id, false);
    await sdk.keys.setEnabled(key.value.key.id, true);
    const rolled = await sdk.keys.roll(key.value.key.id, { gracePeriodSeconds: 60 });
    if (!rolled.ok) throw new Error('setup');
    await sdk.keys.revoke(rolled.value.key.id);
    const test = await s.graphql(
      token,
      'mutation($id: ID!) { sendTestWebhook(input: { id: $id }) { ... on SendTestWebhookPayload { delivery { eventType status } } } }',
      { id: created.id },
    );
    expect(test.data.sendTestWebhook.delivery).toEqual({ eventType: 'WEBHOOK_TEST', status: 'PENDING' });

    await waitFor(() => hooks.received.length >= 11);
    // Deliveries run concurrently; event ids are time-ordered (UUIDv7).
    hooks.received.sort((a, b) => String(a.headers['webhook-id']).localeCompare(String(b.headers['webhook-id'])));
    const verifier = new Webhook(signingSecret);
    for (const message of hooks.received) {
      // Throws unless webhook-id, webhook-timestamp and webhook-signature check out.
      expect(verifier.verify(message.body, message.headers as Record<string, string>)).toEqual(message.payload);
      expect(message.headers['webhook-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(hooks.received.map((m) => m.payload.type)).toEqual([
      'application.created',
      'application.updated',
      'application.disabled',
      'application.enabled',
      'key.created',
      'key.updated',
      'key.disabled',
      'key.enabled',
      'key.rolled',
      'key.revoked',
      'webhook.test',
    ]);
    const created_ = hooks.received[4]!.payload.data;
    expect(created_).toMatchObject({
      id: key.value.key.id,
      name: 'k',
      prefix: key.value.key.prefix,
      externalId: 'cus_1',
    });
    // Public fields only: neither secret appears in anything sent.
    const everything = hooks.received.map((m) => m.body).join('\n');
    expect(everything).not.toContain(key.value.secret);
    expect(everything).not.toContain(rolled.value.secret);
    expect(hooks.received[8]!.payload.data).toMatchObject({
      id: rolled.value.key.id,
      previousKey: { id: key.value.key.id },
    });
    // A tampered body fails the peer's verification.
    expect(() =>
      verifier.verify(hooks.received[0]!.body.replace('Hooked', 'Hacked'), hooks.received[0]!.headers as never),
    ).toThrow();
    // The SDK's helper agrees with the peer's implementation, both ways.
    for (const message of hooks.received) {
      expect(await verifyWebhook(signingSecret, message.body, message.headers as never)).toEqual(message.payload);
    }
    const first = hooks.received[0]!;
    await expect(verifyWebhook(signingSecret, `${first.body} `, first.headers as never)).rejects.toThrow(
      WebhookVerificationError,
    );
    await expect(
      verifyWebhook(signingSecret, first.body, first.headers as never, { now: Date.now() + 3_600_000 }),
    ).rejects.toThrow('webhook-timestamp is too far from now');
    await hooks.close();
  });

  it('retries with backoff: failing 3 times then succeeding is one success after 4 attempts', async () => {
    const hooks = await receiver({ failures: 3 });
    const { endpoint: created, signingSecret } = await endpoint(hooks.url, ['APPLICATION_CREATED']);
    await sdk.applications.create({ name: 'Retried' });
    await waitFor(() => hooks.received.length === 1);
    expect(hooks.requests()).toBe(4);
    new Webhook(signingSecret).verify(hooks.received[0]!.body, hooks.received[0]!.headers as never);
    const { deliveries } = (await s.graphql(token, DELIVERIES, { id: created.id })).data.node;
    expect(deliveries.edges.map((e: { node: unknown }) => e.node)).toEqual([
      {
        eventId: hooks.received[0]!.headers['webhook-id'],
        eventType: 'APPLICATION_CREATED',
        status: 'SUCCEEDED',
        attempts: 4,
        lastStatusCode: 204,
        lastError: null,
      },
    ]);
    await hooks.close();
  });

  it('writes no event for a change that rolls back', async () => {
    const hooks = await receiver();
    await endpoint(hooks.url, ['APPLICATION_CREATED']);
    const before = await db.prisma.event.count();
    await sdk.applications.create({ name: 'Taken' });
    // A name conflict: the transaction rolls back, and no event is written or sent.
    expect(await sdk.applications.create({ name: 'taken' })).toMatchObject({ ok: false });
    await waitFor(() => hooks.received.length === 1);
    await quietFor(200); // what a second delivery would have taken
    expect(hooks.received).toHaveLength(1);
    expect(await db.prisma.event.count()).toBe(before + 1);
    await hooks.close();
  });
});

describe('safety', () => {
  it('refuses loopback, private and link-local targets without the allow flag, at creation and at delivery', async () => {
    // Plain http allowed (the receiver is one), private targets not.
    const strict = await startTestServer({ KEYGATE_WEBHOOK_POLL_MS: '20', KEYGATE_WEBHOOKS_ALLOW_INSECURE: '1' }, db);
    try {
      const strictToken = await strict.merchantToken('acme');
      const cases: [string, string][] = [
        ['https://127.0.0.1/hooks', 'its host 127.0.0.1 is not a public address'],
        ['https://169.254.169.254/latest/meta-data', 'its host 169.254.169.254 is not a public address'],
        // A name: refused without saying which internal address it resolves to.
        [
          'https://localhost/hooks',
          'its host localhost resolves to an address that is not public (loopback, private, link-local or reserved)',
        ],
        ['http://[::1]/hooks', 'its host ::1 is not a public address'],
        ['https://[::7f00:1]/hooks', 'its host ::7f00:1 is not a public address'],
        ['http://10.1.2.3:8080/hooks', 'its host 10.1.2.3 is not a public address'],
      ];
      for (const [url, message] of cases) {
        const result = await strict.graphql(strictToken, ENDPOINT, { input: { url, events: ['KEY_CREATED'] } });
        expect(result.data.createWebhookEndpoint.__typename, url).toBe('ValidationError');
        expect(result.data.createWebhookEndpoint.issues[0].path).toEqual(['input', 'url']);
        expect(result.data.createWebhookEndpoint.issues[0].message).toBe(message);
      }
      // An endpoint that got in anyway (made where private targets were allowed) is refused when sending.
      const hooks = await receiver();
      const { endpoint: created } = await endpoint(hooks.url, ['APPLICATION_CREATED']);
      await s.server.webhooks.stop();
      await sdk.applications.create({ name: 'Not to loopback' });
      const delivery = await waitFor(async () => {
        await strict.server.webhooks.runOnce();
        const found = (await s.graphql(token, DELIVERIES, { id: created.id })).data.node.deliveries.edges[0]?.node;
        // An attempt is recorded when it ends (its claim counts it before that).
        return found?.attempts > 0 && found.lastError ? found : undefined;
      });
      s.server.webhooks.start();
      expect(delivery.lastError).toBe(
        'refused: 127.0.0.1 resolves to an address that is not public (loopback, private, link-local or reserved)',
      );
      expect(hooks.requests()).toBe(0);
      await hooks.close();
    } finally {
      await strict.close();
    }
  });
});

/** A receiver that accepts and then sends one byte of its answer's headers every `everyMs`, forever. */
async function drippingReceiver(everyMs: number) {
  let connections = 0;
  const server = createTcpServer((socket) => {
    connections++;
    socket.on('error', () => {});
    socket.write('HTTP/1.1 200 OK\r\n');
    const timer = setInterval(() => socket.write('x'), everyMs);
    socket.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const SEND_TEST =
  'mutation($id: ID!) { sendTestWebhook(input: { id: $id }) { ... on SendTestWebhookPayload { delivery { eventId } } } }';

describe('one merchant’s receivers never slow another’s deliveries', () => {
  it('a receiver that drips its answer is cut off at the deadline and holds up no one else', async () => {
    // A 3 s deadline per attempt (the default is 10 s) keeps the test short.
    const alone = await startTestServer(
      { ...DEV, KEYGATE_WEBHOOK_POLL_MS: '50', KEYGATE_WEBHOOK_TIMEOUT_SECONDS: '3' },
      db,
    );
    const slow = await drippingReceiver(1000);
    const fast = await receiver();
    try {
      await s.server.webhooks.stop(); // this file's other server stays out of it
      const [tokenA, tokenB] = [await alone.merchantToken('slow-merchant'), await alone.merchantToken('fast-merchant')];
      const endpointOf = async (tokenFor: string, url: string) =>
        (await alone.graphql(tokenFor, ENDPOINT, { input: { url, events: ['KEY_CREATED'] } })).data
          .createWebhookEndpoint.endpoint.id as string;
      const slowIds = [await endpointOf(tokenA, slow.url), await endpointOf(tokenA, slow.url)];
      const fastId = await endpointOf(tokenB, fast.url);

      // B's latency with nothing else going on.
      const sendB = async () => {
        const started = Date.now();
        const before = fast.received.length;
        await alone.graphql(tokenB, SEND_TEST, { id: fastId });
        await waitFor(() => fast.received.length > before, 15_000);
        return Date.now() - started;
      };
      const quiet = await sendB();

      // A fills its receivers with 60 deliveries that will never complete...
      for (let i = 0; i < 30; i++) for (const id of slowIds) await alone.graphql(tokenA, SEND_TEST, { id });
      await waitFor(() => slow.connections() >= 4);
      // ...and B's next delivery arrives as fast as before, several times over.
      const busy: number[] = [];
      for (let i = 0; i < 3; i++) busy.push(await sendB());
      expect(Math.max(...busy)).toBeLessThan(quiet + 1000);
      // One merchant's attempts never exceed its share on this instance.
      expect(slow.connections()).toBeLessThanOrEqual(4);

      // The dripping attempts end at the deadline, recorded as such.
      const failed = await waitFor(async () => {
        const edges = (await alone.graphql(tokenA, DELIVERIES, { id: slowIds[0] })).data.node.deliveries.edges;
        return edges.find((edge: { node: { lastError: string | null } }) => edge.node.lastError)?.node;
      }, 15_000);
      expect(failed.lastError).toBe('no complete answer within 3000 ms');
    } finally {
      await alone.close();
      s.server.webhooks.start();
      await slow.close();
      await fast.close();
    }
  }, 60_000);

  it('a merchant may have at most 20 endpoints; another merchant is not affected', async () => {
    const hooks = await receiver();
    try {
      const crowd = await s.merchantToken('crowded-merchant');
      for (let i = 0; i < 20; i++) {
        const made = await s.graphql(crowd, ENDPOINT, { input: { url: hooks.url, events: ['KEY_CREATED'] } });
        expect(made.data.createWebhookEndpoint.__typename).toBe('CreateWebhookEndpointPayload');
      }
      const refused = await s.graphql(crowd, ENDPOINT, { input: { url: hooks.url, events: ['KEY_CREATED'] } });
      expect(refused.data.createWebhookEndpoint).toEqual({
        __typename: 'ValidationError',
        issues: [{ path: ['input'], message: 'a merchant may have at most 20 webhook endpoints; delete one first' }],
      });
      const other = await s.graphql(await s.merchantToken('roomy-merchant'), ENDPOINT, {
        input: { url: hooks.url, events: ['KEY_CREATED'] },
      });
      expect(other.data.createWebhookEndpoint.__typename).toBe('CreateWebhookEndpointPayload');
    } finally {
      await hooks.close();
    }
  });
});

describe('several instances', () => {
  it('two instances on one database deliver 200 events, each exactly once', async () => {
    const second = await startTestServer(DEV, db);
    try {
      // A merchant of its own: the endpoints earlier tests left behind (their receivers closed,
      // several subscribed to APPLICATION_CREATED) would retry beside these 200 under load.
      const own = await s.merchantToken('burst-merchant');
      const client = createKeygateClient({ url: `${s.url}/graphql`, token: own });
      const hooks = await receiver();
      const { signingSecret } = await endpoint(hooks.url, ['APPLICATION_CREATED'], own);
      const ids = new Set<string>();
      for (let i = 0; i < 200; i++) {
        const result = await client.applications.create({ name: `burst ${i}` });
        if (!result.ok) throw new Error('setup');
        ids.add(result.value.id);
      }
      await waitFor(() => hooks.received.length >= 200, 30_000);
      await quietFor(300); // whatever a little longer would bring, too
      const byEvent = new Map<string, number>();
      for (const message of hooks.received) {
        const id = String(message.headers['webhook-id']);
        byEvent.set(id, (byEvent.get(id) ?? 0) + 1);
        new Webhook(signingSecret).verify(message.body, message.headers as never);
      }
      expect(byEvent.size).toBe(200);
      expect([...byEvent.values()].every((count) => count === 1)).toBe(true);
      expect(new Set(hooks.received.map((m) => m.payload.data.id))).toEqual(ids);
      // Both instances took part.
      expect(s.server.webhooks.attempts).toBeGreaterThan(0);
      expect(second.server.webhooks.attempts).toBeGreaterThan(0);
      await hooks.close();
    } finally {
      await second.close();
    }
  }, 60_000);
});

describe('endpoints', () => {
  it('are listed, updated, rotated and deleted through the SDK; another merchant’s id is a missing id', async () => {
    const hooks = await receiver();
    const created = await sdk.webhooks.create({ url: hooks.url, events: ['KEY_CREATED', 'KEY_CREATED'] });
    if (!created.ok) throw new Error('setup');
    const { endpoint: made, signingSecret } = created.value;
    expect(made.events).toEqual(['KEY_CREATED']);
    expect((await sdk.webhooks.list())?.edges.some((e) => e.node.id === made.id)).toBe(true);
    expect(await sdk.webhooks.update({ id: made.id, events: [], description: 'x' })).toMatchObject({
      ok: false,
      error: { __typename: 'ValidationError', issues: [{ path: ['input', 'events'] }] },
    });
    expect(await sdk.webhooks.update({ id: made.id, enabled: false })).toMatchObject({
      ok: true,
      value: { enabled: false },
    });
    const rotated = await sdk.webhooks.rotateSecret(made.id);
    if (!rotated.ok) throw new Error('rotate');
    expect(rotated.value.signingSecret).not.toBe(signingSecret);
    // The secret is shown by the mutations that make it and nowhere else.
    const listed = JSON.stringify(await sdk.webhooks.list());
    expect(listed).not.toContain(rotated.value.signingSecret.slice(6));

    const globex = createKeygateClient({ url: `${s.url}/graphql`, token: await s.merchantToken('globex') });
    const missing = made.id.replace(/.{4}$/, 'AAAA');
    for (const call of [
      (id: string) => globex.webhooks.update({ id, description: 'hijacked' }),
      (id: string) => globex.webhooks.rotateSecret(id),
      (id: string) => globex.webhooks.sendTest(id),
      (id: string) => globex.webhooks.delete(id),
    ]) {
      const foreign = await call(made.id);
      const absent = await call(missing);
      expect(foreign).toMatchObject({ ok: false, error: { __typename: 'NotFoundError' } });
      expect(absent).toMatchObject({ ok: false, error: { __typename: 'NotFoundError' } });
    }
    expect(await globex.webhooks.deliveries(made.id)).toBeNull();
    expect((await globex.webhooks.list())?.totalCount).toBe(0);

    expect(await sdk.webhooks.delete(made.id)).toEqual({ ok: true, value: made.id });
    expect(await sdk.webhooks.deliveries(made.id)).toBeNull();
    const audit = await sdk.auditEvents.list({ targetId: made.id });
    expect(audit.edges.map((e) => e.node.action)).toEqual([
      'deleteWebhookEndpoint',
      'rotateWebhookSecret',
      'updateWebhookEndpoint',
      'createWebhookEndpoint',
    ]);
    await hooks.close();
  });
});
