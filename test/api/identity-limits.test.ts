// Limits shared by all of an identity's keys: credits and rate limits on the identity, checked
// with each key's own on every verification, all or nothing, exact across instances (the same
// reservations as a key's own pools, on the identity's row).
import { createKeygateClient } from '@keygate/sdk';
import {
  CreateApplicationDocument,
  CreateIdentityDocument,
  CreateKeyDocument,
  UpdateIdentityDocument,
} from '@keygate/sdk/documents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../support/database.ts';
import { member, ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let db: TestDatabase;
let s: TestServer;
let other: TestServer;
let token: string;
let sdk: ReturnType<typeof createKeygateClient>;
let appId = '';
/** The verification clock of both servers (mid-window for hourly limits). */
const now = Date.parse('2026-05-12T10:20:00.000Z');
const clock = () => now;

beforeAll(async () => {
  db = await openTestDatabase();
  s = await startTestServer({ KEYGATE_USAGE_FLUSH_MS: '3600000' }, db, { clock });
  other = await startTestServer({ KEYGATE_USAGE_FLUSH_MS: '3600000' }, db, { clock });
  token = await s.merchantToken('acme');
  sdk = createKeygateClient({ url: `${s.url}/graphql`, token });
  appId = ok((await s.graphql(token, CreateApplicationDocument, { input: { name: 'Shared' } })).data.createApplication)
    .application.id;
});
afterAll(async () => {
  await other?.close();
  await s?.close();
  await db?.close();
});

let serial = 0;
async function identity(input: Record<string, unknown>) {
  const created = await s.graphql(token, CreateIdentityDocument, {
    input: { externalId: `cus_${++serial}`, ...input },
  });
  return ok(created.data.createIdentity).identity;
}
async function key(identityId: string | null, input: Record<string, unknown> = {}) {
  const created = await s.graphql(token, CreateKeyDocument, {
    input: { applicationId: appId, name: `key ${++serial}`, identityId, ...input },
  });
  const payload = ok(created.data.createKey);
  return { id: payload.key.id, secret: payload.secret };
}
const verify = (server: TestServer, secret: string, cost?: number) =>
  server.server.verifier.verify({ key: secret, ip: '198.51.100.9', ...(cost !== undefined ? { cost } : {}) });
/** Gives back what the instances hold and writes what they spent: the stored numbers are then exact. */
async function settle() {
  for (const server of [s, other]) {
    await server.server.meter.stop();
    await server.server.usage.flush();
    server.server.meter.start();
  }
}
const count = (outcomes: { code: string }[], code: string) => outcomes.filter((o) => o.code === code).length;

describe('shared by all of an identity’s keys', () => {
  it('100 shared credits, two keys, 400 verifications across two instances: exactly 100 valid', async () => {
    const owner = await identity({ credits: { remaining: 100 } });
    const keys = [await key(owner.id), await key(owner.id)];
    const outcomes = await Promise.all(
      Array.from({ length: 400 }, (_, i) => verify(i % 2 === 0 ? s : other, keys[(i >> 1) % 2]!.secret)),
    );
    expect(count(outcomes, 'VALID')).toBe(100);
    expect(count(outcomes, 'USAGE_EXCEEDED')).toBe(300);
    // Both keys were used: the pool is the identity's, not either key's.
    await settle();
    const [row] = await db.prisma.$queryRaw<{ remaining: number; reserved: number }[]>`
      SELECT credits_remaining AS remaining, credits_reserved AS reserved FROM identities
      WHERE external_id = ${owner.externalId}`;
    expect(row).toEqual({ remaining: 0, reserved: 0 });
    expect((await sdk.identities.get(owner.id))?.credits?.remaining).toBe(0);
  });

  it('a shared rate limit of 60 an hour holds the same way', async () => {
    const owner = await identity({ rateLimits: [{ name: 'hourly', limit: 60, windowSeconds: 3600 }] });
    const keys = [await key(owner.id), await key(owner.id)];
    const outcomes = await Promise.all(
      Array.from({ length: 300 }, (_, i) => verify(i % 2 === 0 ? s : other, keys[i % 2]!.secret)),
    );
    expect(count(outcomes, 'VALID')).toBe(60);
    expect(count(outcomes, 'RATE_LIMITED')).toBe(240);
    const refused = outcomes.find((o) => o.code === 'RATE_LIMITED')!;
    expect(refused.rateLimits).toEqual([expect.objectContaining({ name: 'hourly', limit: 60, exceeded: true })]);
    expect(refused.retryAfterSeconds).toBe(40 * 60);
  });
});

describe('all or nothing with the key’s own', () => {
  it('a key’s own credits refusing consume nothing of the identity’s, and the other way round', async () => {
    const owner = await identity({ credits: { remaining: 100 } });
    const scarce = await key(owner.id, { credits: { remaining: 5 } });
    const outcomes = [];
    for (let i = 0; i < 10; i++) outcomes.push(await verify(s, scarce.secret));
    expect(outcomes.map((o) => o.code)).toEqual([...Array(5).fill('VALID'), ...Array(5).fill('USAGE_EXCEEDED')]);
    // What is left is the least of the two: the key's own.
    expect(outcomes[4]!.creditsRemaining).toBe(0);
    await settle();
    expect((await sdk.identities.get(owner.id))?.credits?.remaining).toBe(95);

    const poor = await identity({ credits: { remaining: 3 } });
    const rich = await key(poor.id, { credits: { remaining: 100 } });
    const second = [];
    for (let i = 0; i < 6; i++) second.push((await verify(other, rich.secret)).code);
    expect(second).toEqual([...Array(3).fill('VALID'), ...Array(3).fill('USAGE_EXCEEDED')]);
    await settle();
    expect((await sdk.keys.get(rich.id))?.credits?.remaining).toBe(97);
    expect((await sdk.identities.get(poor.id))?.credits?.remaining).toBe(0);
  });

  it('a rate limit of either refusing takes nothing from the other’s, and answers with both', async () => {
    const owner = await identity({ rateLimits: [{ name: 'team', limit: 100, windowSeconds: 3600 }] });
    const tight = await key(owner.id, { rateLimits: [{ name: 'own', limit: 2, windowSeconds: 3600 }] });
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push(await verify(s, tight.secret));
    expect(codes.map((o) => o.code)).toEqual(['VALID', 'VALID', 'RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
    // The key's own limits first, then its identity's; the one that refused is marked.
    expect(codes[2]!.rateLimits).toEqual([
      expect.objectContaining({ name: 'own', limit: 2, remaining: 0, exceeded: true }),
      expect.objectContaining({ name: 'team', limit: 100, exceeded: false }),
    ]);
    // Another key of the identity still has 98 of the shared 100 this hour (once the first instance
    // has given back what it reserved ahead).
    await settle();
    const sibling = await key(owner.id);
    const sib = [];
    for (let i = 0; i < 98; i++) sib.push((await verify(other, sibling.secret)).code);
    expect(sib.every((code) => code === 'VALID')).toBe(true);
    expect((await verify(other, sibling.secret)).code).toBe('RATE_LIMITED');
  });

  it('/v1/auth answers the RateLimit fields of both, and the least credits left', async () => {
    const owner = await identity({
      credits: { remaining: 40 },
      rateLimits: [{ name: 'team', limit: 1000, windowSeconds: 3600 }],
    });
    const own = await key(owner.id, {
      credits: { remaining: 500 },
      rateLimits: [{ name: 'own', limit: 10, windowSeconds: 60 }],
    });
    const answer = await fetch(`${s.url}/v1/auth?cost=4`, { headers: { 'x-api-key': own.secret } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('ratelimit-policy')).toBe('"own";q=10;w=60, "team";q=1000;w=3600');
    expect(answer.headers.get('ratelimit')).toMatch(/^"own";r=9;t=\d+, "team";r=999;t=\d+$/);
    expect(answer.headers.get('x-keygate-credits-remaining')).toBe('36');
  });
});

describe('changes to an identity’s limits', () => {
  it('reach every instance at the next verification, and are validated like a key’s', async () => {
    const owner = await identity({ credits: { remaining: 1 } });
    const k = await key(owner.id);
    expect((await verify(s, k.secret)).code).toBe('VALID');
    expect((await verify(other, k.secret)).code).toBe('USAGE_EXCEEDED');
    ok(
      (await s.graphql(token, UpdateIdentityDocument, { input: { id: owner.id, credits: { remaining: 2 } } })).data
        .updateIdentity,
    );
    expect((await verify(other, k.secret)).code).toBe('VALID');
    ok(
      (await s.graphql(token, UpdateIdentityDocument, { input: { id: owner.id, credits: null } })).data.updateIdentity,
    );
    const free = [];
    for (let i = 0; i < 5; i++) free.push((await verify(s, k.secret)).code);
    expect(free).toEqual(Array(5).fill('VALID'));
    const bad = member(
      (
        await s.graphql(token, CreateIdentityDocument, {
          input: {
            externalId: 'cus_bad',
            credits: { remaining: -1 },
            rateLimits: [{ name: 'x', limit: 0, windowSeconds: 1 }],
          },
        })
      ).data.createIdentity,
      'ValidationError',
    );
    expect(bad.issues.map((issue) => issue.path.join('.')).sort()).toEqual([
      'input.credits.remaining',
      'input.rateLimits.0.limit',
    ]);
  });
});
