// Keygate behind a real nginx serving the reverse-proxy file of docs/operations.md (only Keygate's
// address and the port filled in), as where TLS ends before it: an embedded verifier reaches
// Keygate only through nginx, and so do GraphQL and /v1/auth. The change feed must not be held
// in nginx's buffers (a revocation is refused on the next request), a client's own
// X-Forwarded-For must not be believed, and a usage report larger than nginx takes (its default
// 1 MB, for a user who left `client_max_body_size` out) must still arrive whole.
import { generateKey } from '@keygate/core';
import { createKeygateClient } from '@keygate/sdk';
import { createVerifier, type KeygateVerifier } from '@keygate/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Nginx, startNginxProxy } from '../support/nginx.ts';
import { sdkKey } from '../support/operations.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let keygate: TestServer;
let nginx: Nginx;
let sdk: ReturnType<typeof createKeygateClient>;
let applicationId = '';
let verifierToken = '';
const open: KeygateVerifier[] = [];

beforeAll(async () => {
  // As docs/operations.md says: nginx's address is a trusted proxy.
  keygate = await startTestServer({ KEYGATE_TRUSTED_PROXIES: '127.0.0.1' });
  nginx = await startNginxProxy(Number(new URL(keygate.url).port));
  sdk = createKeygateClient({ url: `${nginx.url}/graphql`, token: await keygate.merchantToken('acme') });
  verifierToken = await keygate.verifierToken('api-pods');
  const app = await sdk.applications.create({ name: 'Orders API' });
  if (!app.ok) throw new Error(JSON.stringify(app.error));
  applicationId = app.value.id;
}, 60_000);

afterAll(async () => {
  await Promise.all(open.map((v) => v.close()));
  await nginx?.stop();
  await keygate?.close();
});

async function verifier(url: string, errors: Error[] = [], keep = true): Promise<KeygateVerifier> {
  const v = createVerifier({ url, token: verifierToken, flushIntervalMs: 600_000, onError: (e) => errors.push(e) });
  if (keep) open.push(v);
  await v.ready();
  return v;
}

const key = (input: Record<string, unknown> = {}) => sdkKey(sdk, applicationId, input);

describe('Keygate behind the documented nginx file', () => {
  it('a revocation made through nginx is refused by a verifier behind it on the next request, 25 of 25', async () => {
    const errors: Error[] = [];
    const v = await verifier(nginx.url, errors);
    for (let trial = 0; trial < 25; trial++) {
      const k = await key({ access: 'READ_ONLY' });
      expect((await v.verify({ key: k.secret, ip: '198.51.100.7' })).code).toBe('VALID');
      const revoked = await sdk.keys.revoke(k.key.id);
      expect(revoked.ok).toBe(true);
      // No wait: revokeKey returned once this verifier, fed through nginx, acknowledged the change.
      expect((await v.verify({ key: k.secret, ip: '198.51.100.7' })).code, `trial ${trial}`).toBe('REVOKED');
    }
    // Its usage reaches Keygate through nginx too.
    const k = await key();
    await v.verify({ key: k.secret, ip: '198.51.100.8' });
    await v.flush();
    const used = await sdk.keys.get(k.key.id);
    expect(used?.lastUsedIp).toBe('198.51.100.8');
    expect(errors).toEqual([]);
    expect(nginx.errors()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
  });

  it('Keygate sees the client nginx saw, whatever X-Forwarded-For the client sends', async () => {
    const onlyClaimed = await key({ ipRules: [{ cidr: '203.0.113.9/32', action: 'ALLOW' }], ipDefaultAction: 'DENY' });
    const onlyLoopback = await key({ ipRules: [{ cidr: '127.0.0.1/32', action: 'ALLOW' }], ipDefaultAction: 'DENY' });
    const auth = (secret: string) =>
      fetch(`${nginx.url}/v1/auth`, {
        headers: {
          authorization: `Bearer ${secret}`,
          'x-forwarded-for': '203.0.113.9',
          'x-real-ip': '203.0.113.9',
          forwarded: 'for=203.0.113.9',
        },
      });
    const claimed = await auth(onlyClaimed.secret);
    expect(claimed.status).toBe(403);
    expect(claimed.headers.get('x-keygate-code')).toBe('IP_DENIED');
    const real = await auth(onlyLoopback.secret);
    expect(real.status).toBe(200);
    await keygate.server.usage.flush();
    expect((await sdk.keys.get(onlyLoopback.key.id))?.lastUsedIp).toBe('127.0.0.1');
  });

  it('a usage report over the 1 MB nginx takes without client_max_body_size arrives in parts', async () => {
    const bare = await startNginxProxy(Number(new URL(keygate.url).port), (file) =>
      file.replace(/^\s*client_max_body_size .*\n/m, ''),
    );
    const errors: Error[] = [];
    const v = await verifier(bare.url, errors, false);
    try {
      // 3,000 keys made straight in the database (through GraphQL they would take minutes).
      const [{ id: app, merchant_id }] = await keygate.db.prisma.$queryRaw<[{ id: string; merchant_id: string }]>`
        SELECT id, merchant_id FROM applications WHERE name = 'Orders API'`;
      const made = Array.from({ length: 3000 }, () => generateKey('live'));
      await keygate.db.prisma.$executeRaw`
        INSERT INTO api_keys (id, merchant_id, application_id, name, prefix, hash, access, environment, updated_at)
        SELECT gen_random_uuid(), ${merchant_id}, ${app}::uuid, 'bulk', p, h, 'READ_ONLY', 'LIVE', now()
        FROM unnest(${made.map((k) => k.prefix)}::text[], ${made.map((k) => k.hash)}::text[]) AS t(p, h)`;
      for (const k of made) expect((await v.verify({ key: k.secret, ip: '198.51.100.7' })).code).toBe('VALID');
      await v.flush();
      const [written] = await keygate.db.prisma.$queryRaw<[{ valid: number; used: number }]>`
        SELECT
          (SELECT sum(count)::int FROM key_usage u JOIN api_keys k ON k.id = u.key_id
            WHERE k.name = 'bulk' AND u.code = 'VALID') AS valid,
          (SELECT count(*)::int FROM api_key_last_used l JOIN api_keys k ON k.id = l.key_id
            WHERE k.name = 'bulk' AND l.ip = '198.51.100.7') AS used`;
      expect(written).toEqual({ valid: 3000, used: 3000 });
      // nginx refused the whole report (413) and the verifier said so, then sent it in halves.
      expect(errors.map((e) => e.message).join('\n')).toMatch(/413/);
      expect(bare.errors()).toMatch(/client intended to send too large body/);
    } finally {
      await v.close();
      await bare.stop();
    }
  }, 120_000);
});
