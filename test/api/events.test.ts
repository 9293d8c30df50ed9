// Events that no merchant action causes: expiry warnings on a controllable
// clock (once per threshold, across instances and restarts), and leaked-key
// reports from a secret scanner (GitHub's partner format, ECDSA-signed with a
// key made here), which revoke the key on every instance at once.
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeygateClient } from '@keygate/sdk';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';
import { quietFor, waitFor } from '../support/wait.ts';

const DAY = 86_400_000;
let db: TestDatabase;
let s: TestServer;
let other: TestServer;
let sdk: ReturnType<typeof createKeygateClient>;
let now = Date.now();
const clock = () => now;
const dir = mkdtempSync(join(tmpdir(), 'keygate-leaks-'));
const signer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const received: { headers: IncomingHttpHeaders; body: string; payload: any }[] = [];
const hooks = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    received.push({ headers: req.headers, body, payload: JSON.parse(body) });
    res.writeHead(200);
    res.end();
  });
});
let signingSecret = '';

const keysFile = join(dir, 'secret_scanning.json');

beforeAll(async () => {
  writeFileSync(
    keysFile,
    JSON.stringify({
      public_keys: [
        {
          key_identifier: 'test-key-1',
          key: signer.publicKey.export({ type: 'spki', format: 'pem' }),
          is_current: true,
        },
      ],
    }),
  );
  const env = {
    KEYGATE_WEBHOOKS_ALLOW_INSECURE: '1',
    KEYGATE_WEBHOOKS_ALLOW_PRIVATE: '1',
    KEYGATE_WEBHOOK_POLL_MS: '20',
    // Scans are run by the test, on its clock.
    KEYGATE_EXPIRY_SCAN_SECONDS: '86400',
    KEYGATE_LEAK_REPORT_KEYS: keysFile,
  };
  db = await openTestDatabase();
  s = await startTestServer(env, db, { clock });
  other = await startTestServer(env, db, { clock });
  sdk = createKeygateClient({ url: `${s.url}/graphql`, token: await s.merchantToken('acme') });
  await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
  const created = await sdk.webhooks.create({
    url: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/`,
    events: ['KEY_EXPIRING', 'KEY_EXPIRED', 'KEY_LEAKED', 'USAGE_EXCEEDED'],
  });
  if (!created.ok) throw new Error(JSON.stringify(created.error));
  signingSecret = created.value.signingSecret;
});
afterAll(async () => {
  await other?.close();
  await s?.close();
  await db?.close();
  hooks.close();
  rmSync(dir, { recursive: true, force: true });
});

async function eventsOfType(type: string, count: number) {
  const found = () => received.filter((m) => m.payload.type === type);
  await waitFor(() => found().length >= count, 10_000, `${count} ${type} event(s)`).catch(() => undefined);
  return found(); // the assertions that follow say what is missing
}

async function application() {
  const app = await sdk.applications.create({ name: `app ${Math.random().toString(36).slice(2, 8)}` });
  if (!app.ok) throw new Error('setup');
  return app.value.id;
}

describe('expiry warnings', () => {
  it('fire once per threshold (7 days, 1 day) and at the expiry, across instances and a restart', async () => {
    now = Date.now();
    const expiry = now + 10 * DAY;
    const created = await sdk.keys.create({
      applicationId: await application(),
      name: 'expiring',
      expiresAt: new Date(expiry).toISOString(),
    });
    if (!created.ok) throw new Error('setup');
    const { key } = created.value;
    expect(await s.server.expiry.runOnce()).toBe(0);
    now = expiry - 7 * DAY + 1000;
    expect(await s.server.expiry.runOnce()).toBe(1);
    // Delivered before the clock jumps again (a jump of days would make an attempt in flight look abandoned).
    await eventsOfType('key.expiring', 1);
    expect(await s.server.expiry.runOnce()).toBe(0);
    expect(await other.server.expiry.runOnce()).toBe(0);
    // A restart: a new instance on the same database remembers what was sent.
    const restarted = await startTestServer({ KEYGATE_EXPIRY_SCAN_SECONDS: '86400' }, db, { clock });
    expect(await restarted.server.expiry.runOnce()).toBe(0);
    await restarted.close();

    now = expiry - DAY + 1000;
    // Two instances at the same moment: one of them sends it.
    expect(
      (await Promise.all([s.server.expiry.runOnce(), other.server.expiry.runOnce()])).reduce((a, b) => a + b),
    ).toBe(1);
    await eventsOfType('key.expiring', 2);
    now = expiry + 1000;
    expect(await other.server.expiry.runOnce()).toBe(1);
    expect(await s.server.expiry.runOnce()).toBe(0);

    const warnings = await eventsOfType('key.expiring', 2);
    const expired = await eventsOfType('key.expired', 1);
    expect(warnings.map((m) => [m.payload.data.id, m.payload.data.warningSeconds])).toEqual([
      [key.id, 604_800],
      [key.id, 86_400],
    ]);
    expect(expired.map((m) => [m.payload.data.id, m.payload.data.status])).toEqual([[key.id, 'EXPIRED']]);
    for (const message of [...warnings, ...expired])
      new Webhook(signingSecret).verify(message.body, message.headers as never);

    // A new expiry warns anew.
    await eventsOfType('key.expired', 1);
    const later = expiry + 30 * DAY;
    await sdk.keys.edit({ id: key.id, expiresAt: new Date(later).toISOString() });
    now = later - DAY + 1000;
    expect(await s.server.expiry.runOnce()).toBe(1);
    expect((await eventsOfType('key.expiring', 3)).at(-1)?.payload.data.warningSeconds).toBe(86_400);
  });

  it('lists keys that expire soon for dashboards, and no revoked ones', async () => {
    now = Date.now();
    const app = await application();
    const soon = await sdk.keys.create({
      applicationId: app,
      name: 'soon',
      expiresAt: new Date(now + DAY).toISOString(),
    });
    const late = await sdk.keys.create({
      applicationId: app,
      name: 'late',
      expiresAt: new Date(now + 20 * DAY).toISOString(),
    });
    const gone = await sdk.keys.create({
      applicationId: app,
      name: 'gone',
      expiresAt: new Date(now + DAY).toISOString(),
    });
    if (!soon.ok || !late.ok || !gone.ok) throw new Error('setup');
    await sdk.keys.revoke(gone.value.key.id);
    const token = await s.merchantToken('acme');
    const ids = async (within: number) =>
      (
        await s.graphql(
          token,
          'query($w: Int!) { expiringKeys(withinSeconds: $w, first: 100) { totalCount edges { node { id } } } }',
          {
            w: within,
          },
        )
      ).data.expiringKeys.edges.map((e: { node: { id: string } }) => e.node.id);
    expect(await ids(2 * 86_400)).toContain(soon.value.key.id);
    expect(await ids(2 * 86_400)).not.toContain(late.value.key.id);
    expect(await ids(2 * 86_400)).not.toContain(gone.value.key.id);
    expect(await ids(30 * 86_400)).toContain(late.value.key.id);
    const bad = await s.graphql(token, '{ expiringKeys(withinSeconds: 0) { totalCount } }');
    expect(bad.errors?.[0]?.message).toContain('withinSeconds');
  });
});

describe('usage.exceeded', () => {
  it('is sent once when a key’s credits run out, whichever instance finds them gone, and again after a change', async () => {
    now = Date.now();
    const created = await sdk.keys.create({
      applicationId: await application(),
      name: 'metered',
      credits: { remaining: 2 },
    });
    if (!created.ok) throw new Error('setup');
    const { key, secret } = created.value;
    const codes = [];
    for (const server of [s, other, s, other]) codes.push((await server.server.verifier.verify({ key: secret })).code);
    expect(codes.filter((c) => c === 'VALID')).toHaveLength(2);
    expect(codes.filter((c) => c === 'USAGE_EXCEEDED')).toHaveLength(2);
    const [event] = await eventsOfType('usage.exceeded', 1);
    expect(event?.payload.data).toMatchObject({ id: key.id, credits: { remaining: 0, nextRefillAt: null } });
    new Webhook(signingSecret).verify(event!.body, event!.headers as never);
    // More refusals in the same period send nothing more.
    for (const server of [s, other])
      expect((await server.server.verifier.verify({ key: secret })).code).toBe('USAGE_EXCEEDED');
    await quietFor(300); // what more deliveries would have brought
    expect(received.filter((m) => m.payload.type === 'usage.exceeded' && m.payload.data.id === key.id)).toHaveLength(1);
    // New credits, used up again: told again.
    await sdk.keys.edit({ id: key.id, credits: { remaining: 1 } });
    expect((await other.server.verifier.verify({ key: secret })).code).toBe('VALID');
    expect((await other.server.verifier.verify({ key: secret })).code).toBe('USAGE_EXCEEDED');
    const again = await eventsOfType('usage.exceeded', 2);
    expect(again.filter((m) => m.payload.data.id === key.id)).toHaveLength(2);
  });
});

describe('failing endpoints', () => {
  it('give up on a delivery after the retry window (FAILED), and are disabled after 72 hours of failures', async () => {
    now = Date.now();
    let attempts = 0;
    const broken = createServer((_req, res) => {
      attempts++;
      res.writeHead(503);
      res.end('down for maintenance');
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = await sdk.webhooks.create({
        url: `http://127.0.0.1:${(broken.address() as AddressInfo).port}/`,
        events: ['APPLICATION_CREATED'],
      });
      if (!endpoint.ok) throw new Error('setup');
      const id = endpoint.value.endpoint.id;
      await application();
      const first = async () => (await sdk.webhooks.deliveries(id))?.edges[0]?.node;
      const until = async (check: (d: Awaited<ReturnType<typeof first>>) => boolean) => {
        await waitFor(async () => check(await first()), 10_000, 'the delivery to change').catch(() => undefined);
        return first();
      };
      // An attempt counts from its claim; wait for its answer to be recorded.
      expect(await until((d) => d?.lastStatusCode != null)).toMatchObject({
        status: 'PENDING',
        attempts: 1,
        lastStatusCode: 503,
        lastError: 'answered 503',
        lastResponse: 'down for maintenance',
      });
      // A day later the next attempt fails too, and the retry window (24 h) is over.
      now += 25 * 3_600_000;
      const failed = await until((d) => d?.status === 'FAILED');
      expect(failed).toMatchObject({ status: 'FAILED', attempts: 2, nextAttemptAt: null });
      // Three days of nothing but failures: the endpoint is disabled, and says why.
      now += 48 * 3_600_000;
      await application();
      const endpointNow = async () => (await sdk.webhooks.list())?.edges.find((e) => e.node.id === id)?.node;
      await waitFor(async () => (await endpointNow())?.enabled === false, 10_000, 'the endpoint to be disabled');
      const listed = await endpointNow();
      expect(listed?.enabled).toBe(false);
      expect(listed?.disabledReason).toMatch(
        /^disabled by Keygate on .*: every delivery failed since .* \(last: answered 503\)$/,
      );
      const made = attempts;
      await application();
      await quietFor(200); // what an attempt would have taken
      expect(attempts).toBe(made);
      // Enabled again: it starts afresh.
      expect(await sdk.webhooks.update({ id, enabled: true })).toMatchObject({
        ok: true,
        value: { enabled: true, disabledReason: null },
      });
    } finally {
      broken.close();
    }
  });
});

describe('leaked-key reports', () => {
  const report = (findings: object[], signWith = signer.privateKey, keyId = 'test-key-1') => {
    const body = JSON.stringify(findings);
    return fetch(`${s.url}/v1/leaks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'github-public-key-identifier': keyId,
        'github-public-key-signature': sign('sha256', Buffer.from(body), signWith).toString('base64'),
      },
      body,
    });
  };

  it('revoke a real key at once on every instance, audited and announced; anything else is a false positive', async () => {
    now = Date.now();
    const created = await sdk.keys.create({ applicationId: await application(), name: 'leaky' });
    if (!created.ok) throw new Error('setup');
    const { key, secret } = created.value;
    for (const server of [s, other]) expect((await server.forwardAuth({ 'x-api-key': secret })).status).toBe(200);
    const url = 'https://github.com/someone/repo/blob/main/.env';
    const response = await report([
      { token: secret, type: 'keygate_api_key', url, source: 'content' },
      { token: 'kg_live_0000000000000000000000000000', type: 'keygate_api_key', url, source: 'content' },
      { token: 'not even a key', type: 'keygate_api_key', url, source: 'content' },
    ]);
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { token_hash: string; token_type: string; label: string }[];
    expect(answer.map((a) => a.label)).toEqual(['true_positive', 'false_positive', 'false_positive']);
    expect(answer[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(answer[0]!.token_type).toBe('keygate_api_key');
    // Revoked at once, on both instances.
    for (const server of [other, s]) {
      const refused = await server.forwardAuth({ 'x-api-key': secret });
      expect([refused.status, refused.code]).toEqual([401, 'REVOKED']);
    }
    const events = await sdk.auditEvents.list({ targetId: key.id, action: 'reportLeakedKey' });
    expect(events.edges.map((e) => [e.node.actor, e.node.summary])).toEqual([
      ['leak-report', { url, source: 'content', action: 'revoked' }],
    ]);
    const [leaked] = await eventsOfType('key.leaked', 1);
    expect(leaked?.payload.data).toMatchObject({
      id: key.id,
      status: 'REVOKED',
      leak: { url, source: 'content', action: 'revoked' },
    });
    expect(leaked?.body).not.toContain(secret);
  });

  it('with KEYGATE_LEAK_ACTION=flag only reports: the key keeps working, the merchant is told', async () => {
    const flagging = await startTestServer({ KEYGATE_LEAK_REPORT_KEYS: keysFile, KEYGATE_LEAK_ACTION: 'flag' }, db, {
      clock,
    });
    try {
      const created = await sdk.keys.create({ applicationId: await application(), name: 'flagged' });
      if (!created.ok) throw new Error('setup');
      const body = JSON.stringify([
        { token: created.value.secret, type: 'keygate_api_key', url: 'https://gist.example/1', source: 'gist' },
      ]);
      const response = await fetch(`${flagging.url}/v1/leaks`, {
        method: 'POST',
        headers: {
          'github-public-key-identifier': 'test-key-1',
          'github-public-key-signature': sign('sha256', Buffer.from(body), signer.privateKey).toString('base64'),
        },
        body,
      });
      expect(((await response.json()) as { label: string }[])[0]?.label).toBe('true_positive');
      expect((await s.forwardAuth({ 'x-api-key': created.value.secret })).status).toBe(200);
      const leaked = (await eventsOfType('key.leaked', 2)).find((m) => m.payload.data.id === created.value.key.id);
      expect(leaked?.payload.data).toMatchObject({ status: 'ACTIVE', leak: { source: 'gist', action: 'flagged' } });
    } finally {
      await flagging.close();
    }
  });

  it('refuses unsigned reports, bad signatures and unknown signing keys', async () => {
    const created = await sdk.keys.create({ applicationId: await application(), name: 'safe' });
    if (!created.ok) throw new Error('setup');
    const finding = [{ token: created.value.secret, type: 'keygate_api_key', url: 'https://x', source: 'content' }];
    const stranger = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    expect((await report(finding, stranger.privateKey)).status).toBe(401);
    expect((await report(finding, signer.privateKey, 'unknown-key')).status).toBe(401);
    const unsigned = await fetch(`${s.url}/v1/leaks`, { method: 'POST', body: JSON.stringify(finding) });
    expect(unsigned.status).toBe(401);
    // None of them touched the key.
    expect((await s.forwardAuth({ 'x-api-key': created.value.secret })).status).toBe(200);
  });

  it('process each finding once: a replayed report changes nothing and announces nothing', async () => {
    const created = await sdk.keys.create({ applicationId: await application(), name: 'replayed' });
    if (!created.ok) throw new Error('setup');
    const { key, secret } = created.value;
    const finding = { token: secret, type: 'keygate_api_key', url: 'https://paste.example/replayed', source: 'paste' };
    for (let i = 0; i < 5; i++) {
      const response = await report([finding]);
      expect(((await response.json()) as { label: string }[])[0]?.label).toBe('true_positive');
    }
    const audited = await sdk.auditEvents.list({ targetId: key.id, action: 'reportLeakedKey' });
    expect(audited.edges).toHaveLength(1);
    await quietFor(300); // what more deliveries would have brought
    expect(received.filter((m) => m.payload.type === 'key.leaked' && m.payload.data.id === key.id)).toHaveLength(1);
    // The same key found at another place is another finding: reported (flagged, as it is revoked).
    await report([{ ...finding, url: 'https://paste.example/elsewhere' }]);
    expect((await sdk.auditEvents.list({ targetId: key.id, action: 'reportLeakedKey' })).edges).toHaveLength(2);
  });

  it('fetch the signers’ keys at most once a minute for unknown key ids, and keep them on failure', async () => {
    let fetches = 0;
    let failing = false;
    const published = JSON.stringify({
      public_keys: [{ key_identifier: 'test-key-1', key: signer.publicKey.export({ type: 'spki', format: 'pem' }) }],
    });
    const keyServer = createServer((_req, res) => {
      fetches++;
      res.writeHead(failing ? 503 : 200, { 'content-type': 'application/json' });
      res.end(failing ? '{}' : published);
    });
    await new Promise<void>((resolve) => keyServer.listen(0, '127.0.0.1', resolve));
    const keysUrl = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}/meta/public_keys/secret_scanning`;
    const remote = await startTestServer({ KEYGATE_LEAK_REPORT_KEYS: keysUrl }, db, { clock });
    try {
      const post = (keyId: string, signature = 'AAAA') =>
        fetch(`${remote.url}/v1/leaks`, {
          method: 'POST',
          headers: { 'github-public-key-identifier': keyId, 'github-public-key-signature': signature },
          body: '[]',
        });
      // 200 unsigned requests naming key ids nobody published, many at once.
      const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => post(`made-up-${i}`)));
      expect(answers.every((a) => a.status === 401)).toBe(true);
      expect(fetches).toBe(1);
      // A minute later the reporter's keys are unreachable: one more try, and the known keys stay.
      failing = true;
      now += 61_000;
      expect((await post('made-up-after-a-minute')).status).toBe(401);
      expect(fetches).toBe(2);
      const signed = sign('sha256', Buffer.from('[]'), signer.privateKey).toString('base64');
      expect((await post('test-key-1', signed)).status).toBe(200);
      expect(fetches).toBe(2);
    } finally {
      await remote.close();
      keyServer.close();
    }
  });
});
