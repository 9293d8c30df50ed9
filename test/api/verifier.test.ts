// @keygate/verifier against a real Keygate (its HTTP endpoints, its change feed): the same
// answers as verifyKey, from memory; changes refused on the next call; usage and metering
// exactly as for /v1/auth; the secret never sent; failure closed. Every request the verifier
// makes passes through a recording proxy, which is how "the secret never leaves" is asserted.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKey, hashKey } from '@keygate/core';
import { createKeygateClient } from '@keygate/sdk';
import { createVerifier, type KeygateVerifier } from '@keygate/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkKey } from '../support/operations.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';
import { waitFor } from '../support/wait.ts';

let s: TestServer;
let sdk: ReturnType<typeof createKeygateClient>;
let service: ReturnType<typeof createKeygateClient>;
let verifierToken: string;
let merchantToken: string;
let applicationId: string;
const open: KeygateVerifier[] = [];

/** Everything the verifiers sent: method, path, headers and body of each request. */
const sent: string[] = [];
/** How many usage reports' answers the proxy loses: Keygate writes them, the verifier never hears. */
let usageAnswersToLose = 0;
/** When set, the proxy refuses usage bodies larger than this with 413, as nginx's client_max_body_size does. */
let usageBodyLimit: number | null = null;
let proxy: Server;
let proxyUrl: string;

beforeAll(async () => {
  s = await startTestServer({ KEYGATE_USAGE_FLUSH_MS: '60000', KEYGATE_VERIFIER_HEARTBEAT_MS: '200' });
  merchantToken = await s.merchantToken('acme');
  verifierToken = await s.verifierToken();
  sdk = createKeygateClient({ url: `${s.url}/graphql`, token: merchantToken });
  service = createKeygateClient({ url: `${s.url}/graphql`, token: verifierToken });
  const app = await sdk.applications.create({ name: 'Embedded verification' });
  if (!app.ok) throw new Error('setup');
  applicationId = app.value.id;
  const target = new URL(s.url);
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      sent.push(`${req.method} ${req.url}\n${JSON.stringify(req.headers)}\n${body.toString('utf8')}`);
      if (req.url === '/v1/verifier/usage' && usageBodyLimit !== null && body.length > usageBodyLimit) {
        res.writeHead(413, { 'content-type': 'text/html' });
        res.end('<html><head><title>413 Request Entity Too Large</title></head></html>');
        return;
      }
      const upstream = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          if (req.url === '/v1/verifier/usage' && usageAnswersToLose > 0) {
            usageAnswersToLose--;
            answer.resume().on('end', () => res.destroy());
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await Promise.all(open.map((v) => v.close()));
  proxy?.closeAllConnections();
  await new Promise((resolve) => proxy?.close(resolve));
  await s?.close();
});

async function verifier(options: Partial<Parameters<typeof createVerifier>[0]> = {}): Promise<KeygateVerifier> {
  const v = createVerifier({ url: proxyUrl, token: verifierToken, flushIntervalMs: 60_000, ...options });
  open.push(v);
  await v.ready();
  return v;
}

const key = (input: Record<string, unknown> = {}) => sdkKey(sdk, applicationId, input);

describe('answers', () => {
  it('are exactly what verifyKey answers, for every outcome', async () => {
    const v = await verifier();
    const owner = await sdk.identities.create({ externalId: `org_${Math.random()}`, metadata: { tier: 'gold' } });
    if (!owner.ok) throw new Error('setup');
    const plain = await key({
      access: 'FULL_ACCESS',
      scopes: ['orders:*'],
      metadata: { plan: 'gold', seats: 3 },
      externalId: 'cus_42',
      identityId: owner.value.id,
    });
    const readOnly = await key({ access: 'READ_ONLY' });
    const office = await key({ access: 'FULL_ACCESS' });
    await sdk.keys.setIpRules({
      keyId: office.key.id,
      rules: [{ cidr: '10.0.0.0/8', action: 'ALLOW' }],
      defaultAction: 'DENY',
    });
    const disabled = await key();
    await sdk.keys.setEnabled(disabled.key.id, false);
    const revoked = await key();
    await sdk.keys.revoke(revoked.key.id);
    const cases = [
      {
        key: plain.secret,
        ip: '198.51.100.1',
        requiredAccess: 'FULL_ACCESS' as const,
        requiredScopes: ['orders:write'],
      },
      { key: plain.secret, ip: '198.51.100.1', requiredScopes: ['refunds:write'] },
      { key: readOnly.secret, ip: '198.51.100.2', requiredAccess: 'FULL_ACCESS' as const },
      { key: readOnly.secret, ip: '198.51.100.2', requiredAccess: 'READ_ONLY' as const },
      { key: office.secret, ip: '198.51.100.3' },
      { key: office.secret, ip: '10.1.2.3' },
      { key: disabled.secret, ip: '198.51.100.4' },
      { key: revoked.secret, ip: '198.51.100.5' },
      { key: `${plain.secret.slice(0, -1)}x`, ip: '198.51.100.6' },
      { key: 'kg_live_notakey', ip: '198.51.100.7' },
    ];
    for (const input of cases) {
      const answer = await service.keys.verify(input);
      if (!answer.ok) throw new Error('verifyKey failed');
      const { __typename, ...expected } = answer.value as typeof answer.value & { __typename?: string };
      // Asked twice: once from Keygate, once from memory.
      expect(await v.verify(input), JSON.stringify(input)).toEqual(expected);
      expect(await v.verify(input), JSON.stringify(input)).toEqual(expected);
    }
    expect(v.stats.hits).toBeGreaterThanOrEqual(cases.length - 2);
  });

  it("for a metered key, have verifyKey's fields, values and formats (what is left differs: each holds its own share)", async () => {
    const v = await verifier();
    const metered = await key({
      credits: { remaining: 50 },
      rateLimits: [
        { name: 'per-minute', limit: 20, windowSeconds: 60 },
        { name: 'per-day', limit: 1000, windowSeconds: 86_400 },
      ],
      metadata: { plan: 'metered' },
    });
    const ours = await v.verify({ key: metered.secret, ip: '198.51.100.40' });
    const answer = await service.keys.verify({ key: metered.secret, ip: '198.51.100.40' });
    if (!answer.ok) throw new Error('verifyKey failed');
    const { __typename, ...theirs } = answer.value as typeof answer.value & { __typename?: string };
    const shape = (r: typeof theirs) => ({
      ...r,
      creditsRemaining: typeof r.creditsRemaining,
      rateLimits: r.rateLimits?.map((l) => ({ ...l, remaining: typeof l.remaining })),
    });
    expect(shape(JSON.parse(JSON.stringify(ours)))).toEqual(shape(theirs));
    expect(ours.creditsRemaining).toBeLessThanOrEqual(49);
    expect(ours.rateLimits?.every((l) => l.remaining < l.limit)).toBe(true);
  });

  it('say each limit’s own window end when two ends share a slot of the ISO-text table', async () => {
    // Ends of 64 s and 4,096 s windows are whole multiples of 64 s: the same slot of the 64-slot
    // table the texts are kept in, and different ends 63 times in 64.
    const v = await verifier();
    const metered = await key({
      rateLimits: [
        { name: 'per-64s', limit: 1000, windowSeconds: 64 },
        { name: 'per-4096s', limit: 1000, windowSeconds: 4096 },
        { name: 'per-second', limit: 1000, windowSeconds: 1 },
      ],
    });
    for (let i = 0; i < 20; i++) {
      const before = Date.now();
      const result = await v.verify({ key: metered.secret });
      const after = Date.now();
      expect(result.code).toBe('VALID');
      for (const [j, seconds] of [64, 4096, 1].entries()) {
        // The end of the window the verification fell in: a multiple of the window, after it.
        const end = Date.parse(result.rateLimits![j]!.resetAt);
        expect(end % (seconds * 1000)).toBe(0);
        expect(end).toBeGreaterThan(before);
        expect(end - seconds * 1000).toBeLessThanOrEqual(after);
      }
    }
  });

  it('come from memory after the first: a hit is synchronous and sends nothing', async () => {
    const v = await verifier();
    const { secret } = await key();
    expect((await v.verify({ key: secret })).code).toBe('VALID');
    const before = sent.length;
    const hit = v.verify({ key: secret });
    expect(hit).not.toBeInstanceOf(Promise);
    expect(hit).toMatchObject({ valid: true, code: 'VALID' });
    for (let i = 0; i < 1000; i++) v.verify({ key: secret, ip: '203.0.113.9' });
    expect(sent.length).toBe(before);
  });
});

describe('changes', () => {
  it('a revoked, disabled, edited, rolled or IP-restricted key is refused on the very next call', async () => {
    const v = await verifier();
    for (let trial = 0; trial < 10; trial++) {
      const k = await key({ access: 'FULL_ACCESS', scopes: ['a'] });
      const warm = () =>
        v.verify({ key: k.secret, ip: '203.0.113.1', requiredScopes: ['a'] }) as ReturnType<typeof v.verify>;
      expect((await warm()).code).toBe('VALID');
      expect(warm()).not.toBeInstanceOf(Promise); // cached
      switch (trial % 5) {
        case 0:
          await sdk.keys.revoke(k.key.id);
          expect((await warm()).code).toBe('REVOKED');
          break;
        case 1:
          await sdk.keys.setEnabled(k.key.id, false);
          expect((await warm()).code).toBe('KEY_DISABLED');
          break;
        case 2:
          await sdk.keys.edit({ id: k.key.id, scopes: ['b'] });
          expect((await warm()).code).toBe('INSUFFICIENT_SCOPE');
          break;
        case 3:
          await sdk.keys.roll(k.key.id);
          expect((await warm()).code).toBe('EXPIRED');
          break;
        case 4:
          await sdk.keys.setIpRules({
            keyId: k.key.id,
            rules: [{ cidr: '10.0.0.0/8', action: 'ALLOW' }],
            defaultAction: 'DENY',
          });
          expect((await warm()).code).toBe('IP_DENIED');
          break;
      }
    }
  });

  it('an application disabled is refused on the next call, for each of its keys', async () => {
    const v = await verifier();
    const other = await sdk.applications.create({ name: 'Soon disabled' });
    if (!other.ok) throw new Error('setup');
    const keys = await Promise.all([1, 2, 3].map(() => key({ applicationId: other.value.id })));
    for (const k of keys) expect((await v.verify({ key: k.secret })).code).toBe('VALID');
    await sdk.applications.setEnabled(other.value.id, false);
    for (const k of keys) expect((await v.verify({ key: k.secret })).code).toBe('APPLICATION_DISABLED');
  });

  it('a role edited is applied on the next call, for each key that has it', async () => {
    const v = await verifier();
    const role = await sdk.roles.create({ name: `Desk ${Math.random()}`, scopes: ['orders.read'] });
    if (!role.ok) throw new Error('setup');
    const keys = await Promise.all([1, 2, 3].map(() => key({ roles: [role.value.id] })));
    const check = (secret: string) => v.verify({ key: secret, requiredPermissions: 'orders.read AND refunds.write' });
    for (const k of keys) expect((await check(k.secret)).code).toBe('INSUFFICIENT_SCOPE');
    for (const k of keys) expect(check(k.secret)).not.toBeInstanceOf(Promise); // cached
    await sdk.roles.update({ id: role.value.id, scopes: ['orders.read', 'refunds.write'] });
    for (const k of keys) expect((await check(k.secret)).code).toBe('VALID');
    expect((await v.verify({ key: keys[0]!.secret })).scopes).toEqual(['orders.read', 'refunds.write']);
  });

  it('an identity changed is what the next call answers with, for each of its keys', async () => {
    const v = await verifier();
    const owner = await sdk.identities.create({ externalId: `org_${Math.random()}`, metadata: { plan: 'free' } });
    if (!owner.ok) throw new Error('setup');
    const keys = await Promise.all([1, 2].map(() => key({ identityId: owner.value.id })));
    for (const k of keys) expect((await v.verify({ key: k.secret })).identity?.metadata).toEqual({ plan: 'free' });
    for (const k of keys) expect(v.verify({ key: k.secret })).not.toBeInstanceOf(Promise); // cached
    await sdk.identities.update({ id: owner.value.id, metadata: { plan: 'pro' } });
    for (const k of keys) expect((await v.verify({ key: k.secret })).identity?.metadata).toEqual({ plan: 'pro' });
    await sdk.identities.delete(owner.value.id, { detachKeys: true });
    for (const k of keys) expect((await v.verify({ key: k.secret })).identity).toBeNull();
  });

  it('a verifier that does not acknowledge in time is cut and told to drop its cache; the change waits no longer', async () => {
    // A feed reader that never acknowledges: the mutation still returns within the ack timeout.
    const stalled = request(`${s.url}/v1/verifier/changes?session=stalled-session`, {
      headers: { authorization: `Bearer ${verifierToken}` },
    });
    const events: string[] = [];
    await new Promise<void>((resolve) => {
      stalled.on('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          events.push(chunk);
          if (chunk.includes('event: ready')) resolve();
        });
      });
      stalled.end();
    });
    const k = await key();
    const started = Date.now();
    await sdk.keys.revoke(k.key.id);
    const took = Date.now() - started;
    expect(took).toBeLessThan(5000); // bounded by KEYGATE_VERIFIER_ACK_MS (1 s), never forever
    // Every new feed opens with a reset (nothing to resume); the cut is the reset after the change.
    await waitFor(() => /event: change[\s\S]*event: reset/.test(events.join('')));
    expect(s.server.feed.stats.cut).toBeGreaterThanOrEqual(1);
    stalled.destroy();
  });
});

describe('imported keys', () => {
  it('verify by the hash of their secret; an unregistered prefix is MALFORMED without asking Keygate', async () => {
    const register = await sdk.keys.registerImportPrefix('rk_live_');
    if (!register.ok) throw new Error(JSON.stringify(register.error));
    const v = await verifier();
    const secret = `rk_live_${'q'.repeat(20)}${Math.random().toString(36).slice(2)}`;
    const imported = await sdk.keys.import({
      applicationId,
      keys: [{ hash: hashKey(secret), prefix: secret.slice(0, 12), name: 'Legacy reporting key' }],
    });
    expect(imported).toMatchObject({ ok: true, value: { imported: 1, skipped: 0 } });
    expect((await v.verify({ key: secret })).code).toBe('VALID');
    const before = sent.length;
    expect((await v.verify({ key: `xk_live_${'q'.repeat(30)}` })).code).toBe('MALFORMED');
    expect(sent.slice(before).filter((line) => line.startsWith('GET /v1/verifier/keys/'))).toEqual([]);
    // A prefix registered while the verifier runs reaches it with the change.
    expect((await v.verify({ key: `zk_live_${'q'.repeat(30)}` })).code).toBe('MALFORMED');
    const later = await sdk.keys.registerImportPrefix('zk_live_');
    if (!later.ok) throw new Error('setup');
    expect((await v.verify({ key: `zk_live_${'q'.repeat(30)}` })).code).toBe('NOT_FOUND');
  });
});

describe('the secret', () => {
  it('never leaves the process: Keygate is asked by hash, and no request carries the key', async () => {
    const v = await verifier({ flushIntervalMs: 50 });
    const k = await key({ credits: { remaining: 5 }, rateLimits: [{ name: 'burst', limit: 100, windowSeconds: 10 }] });
    const before = sent.length;
    for (let i = 0; i < 8; i++) await v.verify({ key: k.secret, ip: '203.0.113.77' });
    await v.verify({ key: `${k.secret.slice(0, -2)}zz`, ip: '203.0.113.77' });
    await v.flush();
    const mine = sent.slice(before);
    expect(mine.some((r) => r.startsWith(`GET /v1/verifier/keys/${hashKey(k.secret)}`))).toBe(true);
    expect(mine.some((r) => r.startsWith('POST /v1/verifier/meter/take'))).toBe(true);
    expect(mine.some((r) => r.startsWith('POST /v1/verifier/usage'))).toBe(true);
    const body = k.secret.slice(k.secret.lastIndexOf('_') + 1);
    for (const text of sent) {
      expect(text).not.toContain(k.secret);
      expect(text).not.toContain(body);
    }
  });
});

describe('usage', () => {
  it('shows in ApiKey.usage, last used and recent refusals exactly as for /v1/auth', async () => {
    const v = await verifier();
    const embedded = await key({ access: 'READ_ONLY' });
    const gateway = await key({ access: 'READ_ONLY' });
    for (let i = 0; i < 3; i++) await v.verify({ key: embedded.secret, ip: '192.0.2.10' });
    await v.verify({ key: embedded.secret, ip: '192.0.2.11', requiredAccess: 'FULL_ACCESS' });
    await v.verify({ key: embedded.secret, ip: '192.0.2.12', requiredAccess: 'READ_ONLY' });
    for (let i = 0; i < 3; i++)
      await s.forwardAuth({ authorization: `Bearer ${gateway.secret}`, 'x-forwarded-for': '192.0.2.10' });
    await fetch(`${s.url}/v1/auth?access=FULL_ACCESS`, { headers: { authorization: `Bearer ${gateway.secret}` } });
    await s.forwardAuth({ authorization: `Bearer ${gateway.secret}` });
    await v.flush();
    await s.server.usage.flush();
    const range = {
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date(Date.now() + 3_600_000).toISOString(),
    };
    const [a, b] = await Promise.all([sdk.keys.usage(embedded.key.id, range), sdk.keys.usage(gateway.key.id, range)]);
    const total = (u: typeof a) =>
      u!.buckets.reduce((sum, x) => ({ valid: sum.valid + x.valid, refused: sum.refused + x.refused }), {
        valid: 0,
        refused: 0,
      });
    expect(total(a)).toEqual({ valid: 4, refused: 1 });
    expect(total(b)).toEqual(total(a));
    expect(a!.recentRefusals.map((r) => [r.code, r.clientIp])).toEqual([['INSUFFICIENT_ACCESS', '192.0.2.11']]);
    expect(b!.recentRefusals.map((r) => r.code)).toEqual(['INSUFFICIENT_ACCESS']);
    const used = await sdk.keys.get(embedded.key.id);
    expect(used?.lastUsedIp).toBe('192.0.2.12');
    expect(Date.now() - Date.parse(used!.lastUsedAt!)).toBeLessThan(60_000);
  });
  it('writes a report naming an address longer than any address, without the address', async () => {
    // The platform passes whatever it has as `ip`: here a whole X-Forwarded-For list.
    const errors: unknown[] = [];
    const v = await verifier({ onError: (error: unknown) => errors.push(error) });
    const k = await key({ access: 'READ_ONLY' });
    const list = Array.from({ length: 6 }, (_, i) => `198.51.100.${100 + i}`).join(', ');
    await v.verify({ key: k.secret, ip: list });
    await v.verify({ key: k.secret, ip: list, requiredAccess: 'FULL_ACCESS' });
    await v.flush();
    expect(errors).toEqual([]);
    const used = await sdk.keys.get(k.key.id);
    expect(Date.now() - Date.parse(used!.lastUsedAt!)).toBeLessThan(60_000);
    expect(used?.lastUsedIp).toBeNull();
    const range = {
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date(Date.now() + 3_600_000).toISOString(),
    };
    const usage = await sdk.keys.usage(k.key.id, range);
    expect(usage!.recentRefusals.map((r) => [r.code, r.clientIp])).toEqual([['INSUFFICIENT_ACCESS', null]]);
  });
});

describe('usage of many keys', () => {
  /** `count` keys named `name` in an application of their own, made in SQL (more than one application may hold). */
  async function manyKeys(count: number, name: string) {
    const own = await sdk.applications.create({ name: `Many keys: ${name}` });
    if (!own.ok) throw new Error('setup');
    const app = fromGlobal(own.value.id);
    const [{ merchant_id }] = await s.db.prisma.$queryRaw<[{ merchant_id: string }]>`
      SELECT merchant_id FROM applications WHERE id = ${app}::uuid`;
    const made = Array.from({ length: count }, () => generateKey('live'));
    await s.db.prisma.$executeRaw`
      INSERT INTO api_keys (id, merchant_id, application_id, name, prefix, hash, access, environment, updated_at)
      SELECT gen_random_uuid(), ${merchant_id}, ${app}::uuid, ${name}, p, h, 'READ_ONLY', 'LIVE', now()
      FROM unnest(${made.map((k) => k.prefix)}::text[], ${made.map((k) => k.hash)}::text[]) AS t(p, h)`;
    return made;
  }

  /** What Keygate wrote about the keys named `name`. */
  async function writtenFor(name: string) {
    const [written] = await s.db.prisma.$queryRaw<{ valid: number; refused: number; used: number; observed: number }[]>`
      SELECT
        (SELECT sum(count)::int FROM key_usage u JOIN api_keys k ON k.id = u.key_id
          WHERE k.name = ${name} AND u.code = 'VALID') AS valid,
        (SELECT sum(count)::int FROM key_usage u JOIN api_keys k ON k.id = u.key_id
          WHERE k.name = ${name} AND u.code <> 'VALID') AS refused,
        (SELECT count(*)::int FROM api_key_last_used l JOIN api_keys k ON k.id = l.key_id
          WHERE k.name = ${name} AND l.ip = '198.51.100.7') AS used,
        (SELECT sum(read_count)::int FROM key_observations o JOIN api_keys k ON k.id = o.key_id
          WHERE k.name = ${name}) AS observed`;
    return written;
  }

  it('a flush of 1,500 keys (made and checked in slices on both sides) is written whole, once', async () => {
    const made = await manyKeys(1500, 'many');
    const v = await verifier();
    for (const k of made) expect((await v.verify({ key: k.secret, ip: '198.51.100.7' })).code).toBe('VALID');
    await v.verify({ key: made[0]!.secret, ip: '198.51.100.7', requiredAccess: 'FULL_ACCESS' });
    await v.flush();
    expect(await writtenFor('many')).toEqual({ valid: 1500, refused: 1, used: 1500, observed: 1500 });
    // The body was one request, and it carried no secret.
    const last = sent.filter((r) => r.startsWith('POST /v1/verifier/usage')).at(-1)!;
    expect(JSON.parse(last.split('\n')[2]!).uses).toHaveLength(1500);
    for (const k of made.slice(0, 50)) expect(last).not.toContain(k.secret);
  }, 60_000);

  it('a report larger than a proxy before Keygate takes (413) goes in numbered parts, each written once', async () => {
    const made = await manyKeys(1500, 'many, split');
    const errors: Error[] = [];
    const v = await verifier({ onError: (error) => errors.push(error) });
    for (const k of made) expect((await v.verify({ key: k.secret, ip: '198.51.100.7' })).code).toBe('VALID');
    await v.verify({ key: made[0]!.secret, ip: '198.51.100.7', requiredAccess: 'FULL_ACCESS' });
    const before = sent.filter((r) => r.startsWith('POST /v1/verifier/usage')).length;
    usageBodyLimit = 100_000; // the whole report is about 560 KB
    try {
      await v.flush();
    } finally {
      usageBodyLimit = null;
    }
    expect(await writtenFor('many, split')).toEqual({ valid: 1500, refused: 1, used: 1500, observed: 1500 });
    const bodies = sent
      .filter((r) => r.startsWith('POST /v1/verifier/usage'))
      .slice(before)
      .map((r) => r.slice(r.indexOf('\n', r.indexOf('\n') + 1) + 1));
    // Refused whole, then in smaller parts (halving) until they pass; every request under a number
    // of its own, rising, and nothing refused is sent again.
    const size = (body: string) => Buffer.byteLength(body);
    expect(size(bodies[0]!)).toBeGreaterThan(100_000);
    const passed = bodies.filter((b) => size(b) <= 100_000).map((b) => JSON.parse(b));
    expect(passed.length).toBeGreaterThan(4);
    const seqs = bodies.map((b) => JSON.parse(b).reporter.seq as number);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
    // Each key's rows travel together, once.
    const ids = passed.flatMap((p) => p.uses.map((u: { id: string }) => u.id));
    expect(ids).toHaveLength(1500);
    expect(new Set(ids).size).toBe(1500);
    const refusedCount = bodies.length - passed.length;
    expect(errors).toHaveLength(refusedCount);
    for (const error of errors) {
      expect(error.message).toMatch(
        /^a usage report of \d+ bytes was refused as too large \(413\); sending it in \d+ parts/,
      );
    }
    // What the next flush sends fits at once: the verifier keeps the smaller size.
    await v.verify({ key: made[1]!.secret, ip: '198.51.100.7' });
    usageBodyLimit = 100_000;
    try {
      await v.flush();
    } finally {
      usageBodyLimit = null;
    }
    expect(errors).toHaveLength(refusedCount);
    for (const body of bodies) for (const k of made.slice(0, 50)) expect(body).not.toContain(k.secret);
  }, 60_000);
});

describe('usage, when an answer is lost', () => {
  it('a report Keygate wrote but whose answer never came is sent again and counted once', async () => {
    const errors: Error[] = [];
    const v = await verifier({ onError: (error) => errors.push(error) });
    const k = await key({ access: 'READ_ONLY', credits: { remaining: 50 } });
    for (let i = 0; i < 5; i++) expect((await v.verify({ key: k.secret, ip: '192.0.2.20' })).code).toBe('VALID');
    await v.verify({ key: k.secret, ip: '192.0.2.21', requiredAccess: 'FULL_ACCESS' });
    const reportsBefore = sent.filter((r) => r.startsWith('POST /v1/verifier/usage')).length;
    usageAnswersToLose = 1;
    await v.flush();
    expect(errors.map((e) => e.message).join()).toMatch(/cannot be reached|socket hang up/);
    // Meanwhile two more verifications; the next flush sends the lost report again, then these.
    for (let i = 0; i < 2; i++) await v.verify({ key: k.secret, ip: '192.0.2.22' });
    await v.flush();
    const reports = sent.filter((r) => r.startsWith('POST /v1/verifier/usage')).slice(reportsBefore);
    expect(reports).toHaveLength(3);
    const bodies = reports.map((r) => JSON.parse(r.split('\n')[2]!));
    expect(bodies[1]).toEqual(bodies[0]); // the same report, its number included
    expect(bodies[2].reporter.seq).toBe(bodies[0].reporter.seq + 1);
    const range = {
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date(Date.now() + 3_600_000).toISOString(),
    };
    const usage = await sdk.keys.usage(k.key.id, range);
    const total = usage!.buckets.reduce(
      (sum, x) => ({ valid: sum.valid + x.valid, refused: sum.refused + x.refused }),
      {
        valid: 0,
        refused: 0,
      },
    );
    expect(total).toEqual({ valid: 7, refused: 1 });
    expect(usage!.recentRefusals).toHaveLength(1);
    const after = await sdk.keys.get(k.key.id);
    expect(after?.lastUsedIp).toBe('192.0.2.22');
    // 7 credits spent, once each: what is left plus what the verifier still holds is 43.
    const stored = await s.db.prisma.apiKey.findUniqueOrThrow({ where: { id: fromGlobal(k.key.id) } });
    expect(stored.creditsRemaining! + stored.creditsReserved).toBe(43);
  });
});

describe('metering', () => {
  it('1,000 credits over two verifiers and /v1/auth, 4,000 concurrent verifications: exactly 1,000 valid', async () => {
    const [one, two] = await Promise.all([verifier(), verifier()]);
    const k = await key({ credits: { remaining: 1000 } });
    const attempts: Promise<string>[] = [];
    for (let i = 0; i < 4000; i++) {
      if (i % 3 === 0) attempts.push(Promise.resolve(one.verify({ key: k.secret })).then((r) => r.code));
      else if (i % 3 === 1) attempts.push(Promise.resolve(two.verify({ key: k.secret })).then((r) => r.code));
      else
        attempts.push(
          s
            .forwardAuth({ authorization: `Bearer ${k.secret}` })
            .then((r) => (r.status === 200 ? 'VALID' : (r.code ?? 'other'))),
        );
    }
    const codes = await Promise.all(attempts);
    expect(codes.filter((c) => c === 'VALID')).toHaveLength(1000);
    expect(new Set(codes.filter((c) => c !== 'VALID'))).toEqual(new Set(['USAGE_EXCEEDED']));
  }, 60_000);

  it('a rate limit of 100 per 10 s, saturated by two verifiers and /v1/auth for 25 s: at most 100, at least 95 per window', async () => {
    const [one, two] = await Promise.all([verifier(), verifier()]);
    const k = await key({ rateLimits: [{ name: 'plan', limit: 100, windowSeconds: 10 }] });
    const accepted = new Map<number, number>();
    const started = Date.now();
    const until = started + 25_000;
    const count = (ok: boolean, at: number) => {
      if (!ok) return;
      const window = Math.floor(at / 10_000);
      accepted.set(window, (accepted.get(window) ?? 0) + 1);
    };
    const viaVerifier = async (v: KeygateVerifier) => {
      while (Date.now() < until) {
        const result = await v.verify({ key: k.secret });
        // The window a VALID belongs to is the one its rate-limit state names.
        count(result.valid, Date.parse(result.rateLimits![0]!.resetAt) - 1);
        if (!result.valid) expect(result.code).toBe('RATE_LIMITED');
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const viaGateway = async () => {
      while (Date.now() < until) {
        const sent = Date.now();
        const answer = await fetch(`${s.url}/v1/auth`, { headers: { 'x-api-key': k.secret } });
        const received = Date.now();
        if (answer.status !== 200) {
          expect(answer.headers.get('x-keygate-code')).toBe('RATE_LIMITED');
          continue;
        }
        // Its window: the one the request was in, or (straddling a boundary) the one its seconds-to-reset name.
        const reset = Number(/"plan";r=\d+;t=(\d+)/.exec(answer.headers.get('ratelimit') ?? '')?.[1]);
        const straddles = Math.floor(sent / 10_000) !== Math.floor(received / 10_000);
        count(true, straddles && reset < 5 ? sent : received);
      }
    };
    await Promise.all([viaVerifier(one), viaVerifier(two), viaGateway(), viaGateway()]);
    const ended = Date.now();
    for (const [window, n] of accepted) expect(n, `window ${window}`).toBeLessThanOrEqual(100);
    const full = [...accepted].filter(([window]) => window * 10_000 >= started && (window + 1) * 10_000 <= ended);
    expect(full.length).toBeGreaterThanOrEqual(1);
    for (const [window, n] of full) expect(n, `full window ${window}`).toBeGreaterThanOrEqual(95);
  }, 60_000);

  it('an identity’s 300 shared credits over its two keys, two verifiers and /v1/auth: exactly 300 valid', async () => {
    const [one, two] = await Promise.all([verifier(), verifier()]);
    const owner = await sdk.identities.create({ externalId: `org_${Math.random()}`, credits: { remaining: 300 } });
    if (!owner.ok) throw new Error('setup');
    const keys = [await key({ identityId: owner.value.id }), await key({ identityId: owner.value.id })];
    const attempts: Promise<string>[] = [];
    for (let i = 0; i < 1200; i++) {
      const secret = keys[i % 2]!.secret;
      if (i % 3 === 0) attempts.push(Promise.resolve(one.verify({ key: secret })).then((r) => r.code));
      else if (i % 3 === 1) attempts.push(Promise.resolve(two.verify({ key: secret })).then((r) => r.code));
      else
        attempts.push(
          s.forwardAuth({ 'x-api-key': secret }).then((r) => (r.status === 200 ? 'VALID' : (r.code ?? 'other'))),
        );
    }
    const codes = await Promise.all(attempts);
    expect(codes.filter((c) => c === 'VALID')).toHaveLength(300);
    expect(new Set(codes.filter((c) => c !== 'VALID'))).toEqual(new Set(['USAGE_EXCEEDED']));
    // What the verifiers spent reaches Keygate: nothing stays reserved once they close.
    await Promise.all([one.close(), two.close()]);
    await s.server.meter.stop();
    s.server.meter.start();
    await s.server.usage.flush();
    const stored = await s.db.prisma.identity.findUniqueOrThrow({ where: { id: fromGlobal(owner.value.id) } });
    expect({ remaining: stored.creditsRemaining, reserved: stored.creditsReserved }).toEqual({
      remaining: 0,
      reserved: 0,
    });
  }, 60_000);

  it('close() gives back what a verifier holds', async () => {
    const v = createVerifier({ url: s.url, token: verifierToken });
    await v.ready();
    const k = await key({ credits: { remaining: 100_000 } });
    for (let i = 0; i < 2000; i++) await v.verify({ key: k.secret });
    await v.close();
    await s.server.usage.flush();
    const left = await sdk.keys.get(k.key.id);
    expect(left?.credits?.remaining).toBe(98_000);
    expect(await s.db.prisma.apiKey.findUniqueOrThrow({ where: { id: fromGlobal(k.key.id) } })).toMatchObject({
      creditsRemaining: 98_000,
      creditsReserved: 0,
    });
  });
});

describe('failure', () => {
  it('fails closed: an unreachable Keygate is UNAVAILABLE, never VALID, for keys not verified before', async () => {
    const { secret } = await key();
    const v = createVerifier({ url: 'http://127.0.0.1:9', token: verifierToken, timeoutMs: 500, onError: () => {} });
    open.push(v);
    const answer = await v.verify({ key: secret });
    expect(answer).toMatchObject({ valid: false, code: 'UNAVAILABLE' });
    expect(answer.retryAfterSeconds).toBeGreaterThan(0);
  });

  it('staleIfErrorSeconds keeps answering for keys verified lately, and only for them; off by default', async () => {
    const alone = await startTestServer({ KEYGATE_VERIFIER_HEARTBEAT_MS: '100' });
    const token = await alone.verifierToken();
    const client = createKeygateClient({ url: `${alone.url}/graphql`, token: await alone.merchantToken('solo') });
    const app = await client.applications.create({ name: 'Stale' });
    if (!app.ok) throw new Error('setup');
    const make = async () => {
      const made = await client.keys.create({ applicationId: app.value.id, name: `k${Math.random()}` });
      if (!made.ok) throw new Error('setup');
      return made.value.secret;
    };
    const [seen, unseen] = [await make(), await make()];
    const quiet = () => {}; // the outage is the point: its warnings are not
    const tolerant = createVerifier({ url: alone.url, token, staleIfErrorSeconds: 60, timeoutMs: 300, onError: quiet });
    const strict = createVerifier({ url: alone.url, token, timeoutMs: 300, onError: quiet });
    open.push(tolerant, strict);
    await Promise.all([tolerant.ready(), strict.ready()]);
    expect((await tolerant.verify({ key: seen })).code).toBe('VALID');
    expect((await strict.verify({ key: seen })).code).toBe('VALID');
    await alone.close();
    await waitFor(() => !tolerant.stats.feedConnected && !strict.stats.feedConnected);
    expect((await tolerant.verify({ key: seen })).code).toBe('VALID');
    expect((await tolerant.verify({ key: unseen })).code).toBe('UNAVAILABLE');
    expect((await strict.verify({ key: seen })).code).toBe('UNAVAILABLE');
  });

  it('the guess limiter runs per client address inside the verifier', async () => {
    const v = await verifier({ failedVerifications: 5 });
    const { secret } = await key();
    for (let i = 0; i < 5; i++)
      expect((await v.verify({ key: 'kg_live_wrong', ip: '198.51.100.200' })).code).toBe('MALFORMED');
    expect((await v.verify({ key: secret, ip: '198.51.100.200' })).code).toBe('TOO_MANY_FAILURES');
    expect((await v.verify({ key: secret, ip: '198.51.100.201' })).code).toBe('VALID');
  });

  it('refuses bad options with a clear TypeError', () => {
    expect(() => createVerifier({ url: 'not a url', token: 'x' })).toThrow(/url is not a URL/);
    expect(() => createVerifier({ url: 'ftp://x', token: 'x' })).toThrow(/http: or https:/);
    expect(() => createVerifier({ url: s.url, token: 'two words' })).toThrow(/service token/);
    expect(() => createVerifier({ url: s.url, token: 'x', maxKeys: 0 })).toThrow(/maxKeys/);
  });
});

describe('the endpoints', () => {
  const hash = '0'.repeat(64);
  const routes: [string, string, unknown?][] = [
    ['GET', `/v1/verifier/keys/${hash}`],
    ['GET', '/v1/verifier/changes?session=abcdefgh12'],
    ['POST', '/v1/verifier/ack', { session: 'abcdefgh12', seq: 1 }],
    ['POST', '/v1/verifier/usage', { uses: [], counts: [], refusals: [] }],
    ['POST', '/v1/verifier/meter/take', { keyId: '00000000-0000-0000-0000-000000000000', credits: null, limits: [] }],
    ['POST', '/v1/verifier/meter/give-back', { credits: [], windows: [] }],
  ];

  it('refuse merchant tokens (403) and requests without a token (401), every one', async () => {
    for (const [method, path, body] of routes) {
      for (const [token, status] of [
        [merchantToken, 403],
        [null, 401],
        ['garbage.token.here', 401],
      ] as const) {
        const answer = await fetch(`${s.url}${path}`, {
          method,
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        expect(answer.status, `${method} ${path} ${status}`).toBe(status);
        expect(await answer.text()).not.toContain('found');
      }
    }
  });

  it('answer bad input with a 400 that says what is wrong, and huge bodies with 413', async () => {
    const post = (path: string, body: string) =>
      fetch(`${s.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${verifierToken}` }, body });
    expect(
      (await fetch(`${s.url}/v1/verifier/keys/nothex`, { headers: { authorization: `Bearer ${verifierToken}` } }))
        .status,
    ).toBe(400);
    const badUsage = await post(
      '/v1/verifier/usage',
      JSON.stringify({ uses: [], counts: [{ key_id: 'x', hour: 'y', code: 'VALID', count: 1 }], refusals: [] }),
    );
    expect(badUsage.status).toBe(400);
    expect((await badUsage.json()).error).toMatch(/counts\[0\]/);
    // Observations are checked field by field too: a network that is none, a scope with a space,
    // more networks than a key's hour keeps.
    const observation = (extra: Record<string, unknown>) =>
      JSON.stringify({
        uses: [],
        counts: [],
        refusals: [],
        observations: [
          {
            key_id: '00000000-0000-7000-8000-000000000000',
            hour: '2026-12-04T10:00:00.000Z',
            read: 1,
            write: 0,
            scopes: {},
            valid_networks: {},
            refused_networks: {},
            ...extra,
          },
        ],
      });
    for (const [extra, message] of [
      [{ valid_networks: { "'; DROP TABLE api_keys; --": 1 } }, /valid_networks/],
      [{ scopes: { 'orders read': 1 } }, /scopes/],
      [
        { refused_networks: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`10.0.${i}.0/24`, 1])) },
        /at most 1000/,
      ],
      [{ read: -1 }, /read/],
    ] as const) {
      const answer = await post('/v1/verifier/usage', observation(extra));
      expect(answer.status).toBe(400);
      expect((await answer.json()).error).toMatch(message);
    }
    // A well-formed one is taken (for a key that does not exist: nothing is written).
    expect((await post('/v1/verifier/usage', observation({ valid_networks: { '203.0.113.0/24': 1 } }))).status).toBe(
      200,
    );
    expect((await post('/v1/verifier/meter/take', '{"keyId":"nope"}')).status).toBe(400);
    expect((await post('/v1/verifier/ack', 'not json')).status).toBe(400);
    expect((await post('/v1/verifier/ack', 'x'.repeat(300_000))).status).toBe(413);
    const unknown = await fetch(`${s.url}/v1/verifier/elsewhere`, {
      headers: { authorization: `Bearer ${verifierToken}` },
    });
    expect(unknown.status).toBe(404);
    // Unknown hashes are found: false, and the server is still well.
    const missing = await fetch(`${s.url}/v1/verifier/keys/${hash}`, {
      headers: { authorization: `Bearer ${verifierToken}` },
    });
    expect(await missing.json()).toEqual({ found: false });
  });
  it('take a report that repeats a key or names an overlong address: the latest use is kept', async () => {
    const k = await key();
    const keyId = fromGlobal(k.key.id);
    // One instant for the whole test: a second boundary passing between report and check moved it.
    const base = Math.floor(Date.now() / 1000) * 1000;
    const at = (ms: number) => new Date(base - ms).toISOString();
    const use = (ms: number, ip: string | null) => ({ id: keyId, at: at(ms), ip, epoch: null, spent: 0 });
    // Accepted (at most 64 characters), but longer than any address a column holds: none is stored.
    const long = `2001:db8:${'a:'.repeat(19)}1`;
    const answer = await fetch(`${s.url}/v1/verifier/usage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${verifierToken}` },
      body: JSON.stringify({
        uses: [use(5_000, '192.0.2.1'), use(1_000, long), use(3_000, '192.0.2.3')],
        counts: [],
        refusals: [{ key_id: keyId, at: at(2_000), code: 'IP_DENIED', ip: long }],
      }),
    });
    expect(answer.status).toBe(200);
    const used = await sdk.keys.get(k.key.id);
    expect(used?.lastUsedAt).toBe(at(1_000));
    expect(used?.lastUsedIp).toBeNull();
    const range = { from: at(3_600_000), to: new Date(Date.now() + 3_600_000).toISOString() };
    const refusals = (await sdk.keys.usage(k.key.id, range))!.recentRefusals;
    expect(refusals.map((r) => [r.code, r.clientIp])).toEqual([['IP_DENIED', null]]);
    // An older use reported later does not move it back.
    await fetch(`${s.url}/v1/verifier/usage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${verifierToken}` },
      body: JSON.stringify({ uses: [use(9_000, '192.0.2.9')], counts: [], refusals: [] }),
    });
    expect((await sdk.keys.get(k.key.id))?.lastUsedAt).toBe(at(1_000));
  });
  it("take a report that names a key's hour twice, in two spellings: both are added up", async () => {
    const k = await key();
    const keyId = fromGlobal(k.key.id);
    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString();
    const spellings = [hour, hour.replace('.000Z', 'Z')];
    const observation = (spelled: string, read: number, networks: Record<string, number>) => ({
      key_id: keyId,
      hour: spelled,
      read,
      write: 0,
      // The second names scopes an object inherits a member for: counts, not the inherited member.
      scopes: read === 2 ? { 'orders:read': read } : { 'orders:read': read, constructor: 1, toString: 2 },
      valid_networks: networks,
      refused_networks: {},
    });
    // Before, the observations' upsert met the same row twice: 503, and a verifier resent it for good.
    const answer = await fetch(`${s.url}/v1/verifier/usage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${verifierToken}` },
      body: JSON.stringify({
        uses: [],
        counts: spellings.map((spelled, i) => ({ key_id: keyId, hour: spelled, code: 'VALID', count: i + 2 })),
        refusals: [],
        observations: [
          observation(spellings[0]!, 2, { '203.0.113.0/24': 2 }),
          observation(spellings[1]!, 3, { '203.0.113.0/24': 1, '198.51.100.0/24': 2 }),
        ],
      }),
    });
    expect(answer.status).toBe(200);
    const observed = await s.db.prisma.keyObservation.findMany({ where: { keyId } });
    const scopes: Record<string, number> = { 'orders:read': 5, constructor: 1, toString: 2 };
    expect(observed.map((o) => [o.hour.toISOString(), o.readCount, o.scopes, o.validNetworks])).toEqual([
      [hour, 5, scopes, { '203.0.113.0/24': 3, '198.51.100.0/24': 2 }],
    ]);
    const counted = await s.db.prisma.keyUsage.findMany({ where: { keyId } });
    expect(counted.map((c) => [c.hour.toISOString(), c.code, c.count])).toEqual([[hour, 'VALID', 5]]);
    // Credits spent, named twice for one key: both leave the reserved count (before: only one did).
    const metered = await key({ credits: { remaining: 100 } });
    const meteredId = fromGlobal(metered.key.id);
    await s.db.prisma.apiKey.update({ where: { id: meteredId }, data: { creditsReserved: 10 } });
    const spent = (n: number) => ({ id: meteredId, at: hour, ip: null, epoch: 0, spent: n });
    const spending = await fetch(`${s.url}/v1/verifier/usage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${verifierToken}` },
      body: JSON.stringify({ uses: [spent(3), spent(4)], counts: [], refusals: [] }),
    });
    expect(spending.status).toBe(200);
    const stored = await s.db.prisma.apiKey.findUniqueOrThrow({ where: { id: meteredId } });
    expect(stored.creditsReserved).toBe(3);
  });
});

describe('numbered usage reports', () => {
  it('are written once per number and reporter; each token has its own reporters; bad numbers are 400', async () => {
    const k = await key();
    const keyId = fromGlobal(k.key.id);
    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString();
    const report = (reporter: unknown) =>
      JSON.stringify({ reporter, uses: [], counts: [{ key_id: keyId, hour, code: 'VALID', count: 10 }], refusals: [] });
    const post = async (token: string, body: string) => {
      const answer = await fetch(`${s.url}/v1/verifier/usage`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body,
      });
      return { status: answer.status, body: await answer.json() };
    };
    const other = await s.verifierToken('another-gateway');
    const id = 'r-numbered-reports-1';
    expect(await post(verifierToken, report({ id, seq: 1 }))).toEqual({
      status: 200,
      body: { ok: true, duplicate: false },
    });
    // The same number again, twice at once, and an older one: none written.
    const again = await Promise.all([
      post(verifierToken, report({ id, seq: 1 })),
      post(verifierToken, report({ id, seq: 1 })),
    ]);
    expect(again.map((a) => a.body.duplicate)).toEqual([true, true]);
    expect((await post(verifierToken, report({ id, seq: 2 }))).body.duplicate).toBe(false);
    expect((await post(verifierToken, report({ id, seq: 1 }))).body.duplicate).toBe(true);
    // Another token's reporter of the same id is its own: its first report is written.
    expect((await post(other, report({ id, seq: 1 }))).body.duplicate).toBe(false);
    // Unnumbered reports (verifiers from before numbering) are written as they come.
    expect((await post(verifierToken, report(undefined))).body.duplicate).toBe(false);
    const usage = await sdk.keys.usage(k.key.id, {
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(usage!.buckets.reduce((sum, b) => sum + b.valid, 0)).toBe(40);
    for (const [reporter, message] of [
      [{ id: 'short', seq: 1 }, /reporter\.id/],
      [{ id: "r'; DROP TABLE api_keys; --", seq: 1 }, /reporter\.id/],
      [{ id, seq: -1 }, /reporter\.seq/],
      [{ id, seq: 2 ** 31 }, /reporter\.seq/],
      [{ id, seq: '3' }, /reporter\.seq/],
      ['r-numbered-reports-1', /reporter\.id/],
    ] as const) {
      const answer = await post(verifierToken, report(reporter));
      expect(answer.status, JSON.stringify(reporter)).toBe(400);
      expect(answer.body.error).toMatch(message);
    }
    // A reporter silent for a week is forgotten by the hourly prune; the others are kept.
    await s.db.prisma.$executeRaw`UPDATE verifier_usage_reporters SET updated_at = now() - interval '8 days'
      WHERE reporter = ${`another-gateway/${id}`}`;
    await s.server.usage.prune();
    const kept = await s.db.prisma.$queryRaw<{ reporter: string; seq: number }[]>`
      SELECT reporter, seq FROM verifier_usage_reporters WHERE reporter LIKE ${`%/${id}`}`;
    expect(kept).toEqual([{ reporter: `gateway/${id}`, seq: 2 }]);
  });
});

function fromGlobal(id: string): string {
  return Buffer.from(id, 'base64url').toString('utf8').split(':')[1]!;
}
