// Metering through the API and the server's verification path: usage credits
// (spent, refilled on a controllable clock, never overspent), named rate limits
// (fixed windows, all-or-nothing with credits), their validation, their audit,
// and changes reaching every instance on the next verification.
import { refillDue } from '@keygate/core';
import { createKeygateClient } from '@keygate/sdk';
import { CreateApplicationDocument, CreateKeyDocument, EditKeyDocument } from '@keygate/sdk/documents';
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
/** The verification clock of both servers; tests move it. */
let now = Date.parse('2026-03-31T23:59:58.000Z');
const clock = () => now;

beforeAll(async () => {
  db = await openTestDatabase();
  s = await startTestServer({ KEYGATE_USAGE_FLUSH_MS: '3600000' }, db, { clock });
  // A second instance on the same database: changes made through one are enforced by the other.
  other = await startTestServer({ KEYGATE_USAGE_FLUSH_MS: '3600000' }, db, { clock });
  token = await s.merchantToken('acme');
  sdk = createKeygateClient({ url: `${s.url}/graphql`, token });
  appId = ok((await s.graphql(token, CreateApplicationDocument, { input: { name: 'Metered' } })).data.createApplication)
    .application.id;
});
afterAll(async () => {
  await other?.close();
  await s?.close();
  await db?.close();
});

type Input = Parameters<typeof sdk.keys.create>[0];
async function createKey(input: Partial<Input>) {
  const result = await s.graphql(token, CreateKeyDocument, {
    input: { applicationId: appId, name: 'metered', ...input },
  });
  const created = result.data.createKey;
  if (created.__typename !== 'CreateKeyPayload') throw new Error(JSON.stringify(created));
  return { id: created.key.id as string, secret: created.secret as string, key: created.key };
}

const verify = async (server: TestServer, key: string, cost?: number) =>
  server.server.verifier.verify({ key, ip: '198.51.100.7', ...(cost !== undefined ? { cost } : {}) });
const codes = async (server: TestServer, key: string, n: number, cost?: number) => {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await verify(server, key, cost)).code);
  return out;
};
/** Gives back what the instances hold and writes what they spent: the stored remaining is then exact. */
async function settle() {
  for (const server of [s, other]) {
    await server.server.meter.stop();
    await server.server.usage.flush();
    server.server.meter.start();
  }
}
const stored = async (id: string) => (await sdk.keys.get(id))!;

describe('usage credits', () => {
  it('spends one credit per verification, says USAGE_EXCEEDED at zero, and shows what is left', async () => {
    const { id, secret, key } = await createKey({ credits: { remaining: 5 } });
    expect(key.credits).toMatchObject({ remaining: 5, refillAmount: null, refillInterval: null, nextRefillAt: null });
    const outcomes = [];
    for (let i = 0; i < 6; i++) outcomes.push(await verify(s, secret));
    expect(outcomes.map((o) => o.code)).toEqual(['VALID', 'VALID', 'VALID', 'VALID', 'VALID', 'USAGE_EXCEEDED']);
    expect(outcomes.map((o) => o.creditsRemaining)).toEqual([4, 3, 2, 1, 0, 0]);
    // No refill: no time at which trying again helps.
    expect(outcomes[5]!.retryAfterSeconds).toBeUndefined();
    await settle();
    expect((await stored(id)).credits?.remaining).toBe(0);
  });

  it('spends the cost asked for; 0 spends nothing; a cost above what is left spends nothing', async () => {
    const { id, secret } = await createKey({ credits: { remaining: 10 } });
    expect((await verify(s, secret, 4)).creditsRemaining).toBe(6);
    expect((await verify(s, secret, 0)).code).toBe('VALID');
    const tooMuch = await verify(s, secret, 7);
    expect(tooMuch).toMatchObject({ code: 'USAGE_EXCEEDED', creditsRemaining: 6 });
    expect((await verify(s, secret, 6)).creditsRemaining).toBe(0);
    expect((await verify(s, secret, 0)).code).toBe('VALID');
    await settle();
    expect((await stored(id)).credits?.remaining).toBe(0);
  });

  it('is never overspent by two instances sharing the key, and no credit is lost', async () => {
    const { id, secret } = await createKey({ credits: { remaining: 300 } });
    const outcomes = await Promise.all(Array.from({ length: 800 }, (_, i) => verify(i % 2 === 0 ? s : other, secret)));
    expect(outcomes.filter((o) => o.code === 'VALID')).toHaveLength(300);
    expect(outcomes.filter((o) => o.code === 'USAGE_EXCEEDED')).toHaveLength(500);
    await settle();
    expect((await stored(id)).credits?.remaining).toBe(0);
  });

  it('gives back what an instance reserved and did not spend', async () => {
    const { id, secret } = await createKey({ credits: { remaining: 1000 } });
    expect(await codes(s, secret, 40)).toEqual(Array(40).fill('VALID'));
    // Reserved ahead: the pool in the database holds less than what is left.
    const [row] = await db.prisma.$queryRaw<{ remaining: number; reserved: number }[]>`
      SELECT credits_remaining AS remaining, credits_reserved AS reserved FROM api_keys WHERE id = ${localKeyId(id)}::uuid`;
    expect(row!.remaining).toBeLessThan(960);
    // What the API shows counts the reservation as not spent.
    expect((await stored(id)).credits?.remaining).toBe(row!.remaining + row!.reserved);
    await settle();
    expect((await stored(id)).credits?.remaining).toBe(960);
    const [after] = await db.prisma.$queryRaw<{ remaining: number; reserved: number }[]>`
      SELECT credits_remaining AS remaining, credits_reserved AS reserved FROM api_keys WHERE id = ${localKeyId(id)}::uuid`;
    expect(after).toEqual({ remaining: 960, reserved: 0 });
  });

  it('refills at UTC midnight (DAILY) and on the refill day (MONTHLY), never adding up', async () => {
    now = Date.parse('2026-03-31T23:59:58.000Z');
    const daily = await createKey({ credits: { remaining: 2, refillAmount: 3, refillInterval: 'DAILY' } });
    expect(daily.key.credits).toMatchObject({
      remaining: 2,
      refillAmount: 3,
      refillInterval: 'DAILY',
      refilledAt: '2026-03-31T00:00:00.000Z',
      nextRefillAt: '2026-04-01T00:00:00.000Z',
    });
    expect(await codes(s, daily.secret, 3)).toEqual(['VALID', 'VALID', 'USAGE_EXCEEDED']);
    const exceeded = await verify(other, daily.secret);
    expect(exceeded).toMatchObject({ code: 'USAGE_EXCEEDED', retryAfterSeconds: 2 });
    now = Date.parse('2026-04-01T00:00:00.000Z');
    expect(await codes(other, daily.secret, 2)).toEqual(['VALID', 'VALID']);
    expect(await codes(s, daily.secret, 2)).toEqual(['VALID', 'USAGE_EXCEEDED']);
    await settle();
    expect((await stored(daily.id)).credits).toMatchObject({ remaining: 0, refilledAt: '2026-04-01T00:00:00.000Z' });

    // The 31st of each month: in April, the 30th.
    now = Date.parse('2026-04-15T12:00:00.000Z');
    const monthly = await createKey({
      credits: { remaining: 1, refillAmount: 4, refillInterval: 'MONTHLY', refillDay: 31 },
    });
    expect(monthly.key.credits).toMatchObject({
      refilledAt: '2026-03-31T00:00:00.000Z',
      nextRefillAt: '2026-04-30T00:00:00.000Z',
    });
    expect(await codes(s, monthly.secret, 2)).toEqual(['VALID', 'USAGE_EXCEEDED']);
    now = Date.parse('2026-04-29T23:59:59.999Z');
    expect(await codes(s, monthly.secret, 1)).toEqual(['USAGE_EXCEEDED']);
    now = Date.parse('2026-04-30T00:00:00.000Z');
    expect(await codes(s, monthly.secret, 5)).toEqual(['VALID', 'VALID', 'VALID', 'VALID', 'USAGE_EXCEEDED']);
    // Unused credits do not carry over: the next refill sets the count, it does not add.
    now = Date.parse('2026-05-31T00:00:00.000Z');
    expect((await stored(monthly.id)).credits).toMatchObject({
      remaining: 4,
      nextRefillAt: '2026-06-30T00:00:00.000Z',
    });
    expect(await codes(s, monthly.secret, 1)).toEqual(['VALID']);
    await settle();
    expect((await stored(monthly.id)).credits?.remaining).toBe(3);
  });

  it('computes refill boundaries in the database exactly as @keygate/core does', async () => {
    const instants = [
      '2024-02-29T12:00:00.000Z',
      '2024-03-01T00:00:00.000Z',
      '2025-12-31T23:59:59.999Z',
      '2026-01-01T00:00:00.000Z',
      '2026-02-28T00:00:00.000Z',
      '2026-02-27T23:59:59.999Z',
      '2026-07-30T08:00:00.000Z',
      '2026-07-31T00:00:00.000Z',
    ];
    const cases = instants.flatMap((at) =>
      [['DAILY', null], ...[1, 15, 28, 29, 30, 31].map((day) => ['MONTHLY', day])].map(([interval, day]) => ({
        at,
        interval: interval as 'DAILY' | 'MONTHLY',
        day: day as number | null,
      })),
    );
    for (const { at, interval, day } of cases) {
      const [row] = await db.prisma.$queryRaw<{ due: Date; next: Date }[]>`
        SELECT keygate_refill_due(${interval}, ${day}::int, ${new Date(at)}) AS due,
               keygate_next_refill(${interval}, ${day}::int, ${new Date(at)}) AS next`;
      const due = refillDue(interval, day, Date.parse(at));
      expect([at, interval, day, row!.due.toISOString()]).toEqual([at, interval, day, new Date(due).toISOString()]);
      expect(row!.next.getTime()).toBeGreaterThan(Date.parse(at));
      expect(refillDue(interval, day, row!.next.getTime())).toBe(row!.next.getTime());
    }
  });
});

describe('rate limits', () => {
  it('refuses past the limit with the limit’s name and reset, and allows again in the next window', async () => {
    now = Date.parse('2026-06-01T10:00:00.000Z');
    const { secret } = await createKey({
      rateLimits: [
        { name: 'burst', limit: 3, windowSeconds: 10 },
        { name: 'hourly', limit: 100, windowSeconds: 3600 },
      ],
    });
    const first = await verify(s, secret);
    expect(first.rateLimits).toEqual([
      { name: 'burst', limit: 3, remaining: 2, resetAt: Date.parse('2026-06-01T10:00:10.000Z'), exceeded: false },
      { name: 'hourly', limit: 100, remaining: 99, resetAt: Date.parse('2026-06-01T11:00:00.000Z'), exceeded: false },
    ]);
    expect(await codes(s, secret, 3)).toEqual(['VALID', 'VALID', 'RATE_LIMITED']);
    now += 4_000;
    const refused = await verify(other, secret);
    expect(refused.code).toBe('RATE_LIMITED');
    expect(refused.retryAfterSeconds).toBe(6);
    expect(refused.rateLimits?.find((l) => l.exceeded)?.name).toBe('burst');
    now = Date.parse('2026-06-01T10:00:10.000Z');
    const again = await verify(other, secret);
    expect(again.code).toBe('VALID');
    // A refusal consumed nothing of the other limit: 3 accepted, then this one.
    expect(again.rateLimits?.find((l) => l.name === 'hourly')?.remaining).toBeLessThanOrEqual(96);
  });

  it('is all or nothing: a rate-limit refusal spends no credits, and USAGE_EXCEEDED takes nothing from a limit', async () => {
    now = Date.parse('2026-06-01T11:00:00.000Z');
    const { id, secret } = await createKey({
      credits: { remaining: 10 },
      rateLimits: [{ name: 'per-minute', limit: 2, windowSeconds: 60 }],
    });
    expect(await codes(s, secret, 5)).toEqual(['VALID', 'VALID', 'RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
    await settle();
    expect((await stored(id)).credits?.remaining).toBe(8);
    // Analytics count the metering refusals by their own outcome.
    const usage = await sdk.keys.usage(id, {
      from: new Date(now - 3_600_000).toISOString(),
      to: new Date(now + 3_600_000).toISOString(),
    });
    expect(usage?.buckets.filter((b) => b.valid + b.rateLimited > 0)).toEqual([
      expect.objectContaining({ valid: 2, rateLimited: 3, usageExceeded: 0, refused: 0 }),
    ]);

    now += 60_000;
    const scarce = await createKey({
      credits: { remaining: 1 },
      rateLimits: [{ name: 'per-minute', limit: 5, windowSeconds: 60 }],
    });
    expect(await codes(s, scarce.secret, 4)).toEqual(['VALID', 'USAGE_EXCEEDED', 'USAGE_EXCEEDED', 'USAGE_EXCEEDED']);
    // What the instance reserved of the limit meanwhile goes back to the window unused.
    await settle();
    const scarceUsage = await sdk.keys.usage(scarce.id, {
      from: new Date(now - 3_600_000).toISOString(),
      to: new Date(now + 3_600_000).toISOString(),
    });
    expect(scarceUsage?.recentRefusals.map((r) => r.code)).toEqual(Array(3).fill('USAGE_EXCEEDED'));
    await sdk.keys.edit({ id: scarce.id, credits: { remaining: 100 } });
    // Four of the window's five are still there, for any instance.
    expect(await codes(other, scarce.secret, 5)).toEqual(['VALID', 'VALID', 'VALID', 'VALID', 'RATE_LIMITED']);
  });
});

describe('/v1/auth and verifyKey', () => {
  it('/v1/auth spends the auth URL’s cost and answers the IETF RateLimit fields and the credits left', async () => {
    now = Date.parse('2026-06-03T00:00:04.000Z');
    const { secret } = await createKey({
      credits: { remaining: 10 },
      rateLimits: [
        { name: 'burst', limit: 2, windowSeconds: 10 },
        { name: 'daily', limit: 1000, windowSeconds: 86400 },
      ],
    });
    const first = await s.forwardAuth({ 'x-api-key': secret }, 'cost=3');
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toBe('"burst";q=2;w=10, "daily";q=1000;w=86400');
    expect(first.headers.get('ratelimit')).toBe('"burst";r=1;t=6, "daily";r=999;t=86396');
    expect(first.headers.get('x-keygate-credits-remaining')).toBe('7');
    const second = await s.forwardAuth({ 'x-api-key': secret });
    expect(second.headers.get('x-keygate-credits-remaining')).toBe('6');
    const limited = await s.forwardAuth({ 'x-api-key': secret });
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ valid: false, code: 'RATE_LIMITED' });
    expect(limited.headers.get('retry-after')).toBe('6');
    expect(limited.headers.get('x-keygate-rate-limit')).toBe('burst');
    expect(limited.headers.get('ratelimit')).toBe('"burst";r=0;t=6, "daily";r=998;t=86396');
    expect(limited.headers.get('x-keygate-credits-remaining')).toBe('6');
    now += 6_000;
    const exceeded = await s.forwardAuth({ 'x-api-key': secret }, 'cost=7');
    expect([exceeded.status, exceeded.code]).toEqual([429, 'USAGE_EXCEEDED']);
    expect(exceeded.headers.get('retry-after')).toBeNull();
    for (const bad of ['-1', '1.5', 'two', '1000001', '']) {
      const refused = await s.forwardAuth({ 'x-api-key': secret }, `cost=${encodeURIComponent(bad)}`);
      expect([bad, refused.status, refused.code]).toEqual([bad, 400, 'BAD_COST']);
    }
    // Unmetered keys answer no metering fields.
    const plain = await createKey({});
    const answer = await s.forwardAuth({ 'x-api-key': plain.secret }, 'cost=5');
    expect(answer.status).toBe(200);
    expect([answer.headers.get('ratelimit'), answer.headers.get('x-keygate-credits-remaining')]).toEqual([null, null]);
  });

  it('verifyKey takes a cost and answers creditsRemaining and rateLimits, on both GraphQL paths', async () => {
    now = Date.parse('2026-06-03T00:10:00.000Z');
    const { secret } = await createKey({
      credits: { remaining: 10 },
      rateLimits: [{ name: 'burst', limit: 5, windowSeconds: 60 }],
    });
    const service = await s.verifierToken();
    const document = `mutation($input: VerifyKeyInput!) { verifyKey(input: $input) {
      ... on KeyVerification { code creditsRemaining retryAfterSeconds rateLimits { name limit remaining resetAt exceeded } }
      ... on ValidationError { issues { path message } } } }`;
    const fast = await s.graphql(service, document, { input: { key: secret, cost: 4 } });
    expect(fast.data.verifyKey).toEqual({
      code: 'VALID',
      creditsRemaining: 6,
      retryAfterSeconds: null,
      rateLimits: [{ name: 'burst', limit: 5, remaining: 4, resetAt: '2026-06-03T00:11:00.000Z', exceeded: false }],
    });
    // A merchant's own verification takes graphql-js execution: the same answer.
    const slow = await s.graphql(token, document, { input: { key: secret, cost: 4 } });
    expect(slow.data.verifyKey).toEqual({
      ...fast.data.verifyKey,
      creditsRemaining: 2,
      rateLimits: [{ ...fast.data.verifyKey.rateLimits[0], remaining: 3 }],
    });
    const exceeded = await s.graphql(service, document, { input: { key: secret, cost: 3 } });
    expect(exceeded.data.verifyKey).toMatchObject({ code: 'USAGE_EXCEEDED', creditsRemaining: 2 });
    const bad = await s.graphql(service, document, { input: { key: secret, cost: -1 } });
    expect(bad.data.verifyKey.issues).toEqual([{ path: ['input', 'cost'], message: 'must be at least 0' }]);
  });
});

describe('changes', () => {
  it('take effect on every instance at the next verification, and are audited', async () => {
    now = Date.parse('2026-06-02T00:00:00.000Z');
    const { id, secret } = await createKey({ credits: { remaining: 1000 } });
    expect(await codes(s, secret, 3)).toEqual(['VALID', 'VALID', 'VALID']);
    expect(await codes(other, secret, 3)).toEqual(['VALID', 'VALID', 'VALID']);
    // Both instances hold reservations; setting the credits voids them.
    await sdk.keys.edit({ id, credits: { remaining: 1 } });
    expect(await codes(other, secret, 2)).toEqual(['VALID', 'USAGE_EXCEEDED']);
    expect(await codes(s, secret, 1)).toEqual(['USAGE_EXCEEDED']);

    await sdk.keys.edit({ id, credits: null, rateLimits: [{ name: 'tight', limit: 1, windowSeconds: 60 }] });
    expect(await codes(s, secret, 2)).toEqual(['VALID', 'RATE_LIMITED']);
    expect((await verify(other, secret)).code).toBe('RATE_LIMITED');
    const edited = await stored(id);
    expect(edited.credits).toBeNull();
    expect(edited.rateLimits).toEqual([{ name: 'tight', limit: 1, windowSeconds: 60 }]);

    await sdk.keys.edit({ id, rateLimits: [] });
    expect(await codes(other, secret, 3)).toEqual(['VALID', 'VALID', 'VALID']);
    expect((await verify(other, secret)).rateLimits).toBeUndefined();

    const events = await sdk.auditEvents.list({ targetId: id });
    const summaries = events.edges
      .map((e) => e.node)
      .filter((e) => e.action === 'editKey')
      .map((e) => e.summary);
    expect(summaries).toEqual([
      { rateLimits: [] },
      { credits: null, rateLimits: [{ name: 'tight', limit: 1, windowSeconds: 60 }] },
      { credits: { remaining: 1 } },
    ]);
  });

  it('refuses bad metering input with a ValidationError naming each field', async () => {
    const cases: [Partial<Input>, string[][]][] = [
      [{ credits: { remaining: -1 } }, [['input', 'credits', 'remaining']]],
      [{ credits: { remaining: 1_000_000_001 } }, [['input', 'credits', 'remaining']]],
      [{ credits: { remaining: 5, refillAmount: 5 } }, [['input', 'credits', 'refillInterval']]],
      [{ credits: { remaining: 5, refillInterval: 'DAILY' } }, [['input', 'credits', 'refillAmount']]],
      [
        { credits: { remaining: 5, refillAmount: 5, refillInterval: 'DAILY', refillDay: 3 } },
        [['input', 'credits', 'refillDay']],
      ],
      [
        { credits: { remaining: 5, refillAmount: 5, refillInterval: 'MONTHLY', refillDay: 32 } },
        [['input', 'credits', 'refillDay']],
      ],
      [{ rateLimits: [{ name: 'a', limit: 0, windowSeconds: 1 }] }, [['input', 'rateLimits', '0', 'limit']]],
      [{ rateLimits: [{ name: 'a', limit: 1, windowSeconds: 0 }] }, [['input', 'rateLimits', '0', 'windowSeconds']]],
      [
        { rateLimits: [{ name: 'a', limit: 1, windowSeconds: 2_592_001 }] },
        [['input', 'rateLimits', '0', 'windowSeconds']],
      ],
      [{ rateLimits: [{ name: 'bad name', limit: 1, windowSeconds: 1 }] }, [['input', 'rateLimits', '0', 'name']]],
      [
        {
          rateLimits: [
            { name: 'Burst', limit: 1, windowSeconds: 1 },
            { name: 'burst', limit: 2, windowSeconds: 2 },
          ],
        },
        [['input', 'rateLimits', '1', 'name']],
      ],
      [
        { rateLimits: Array.from({ length: 11 }, (_, i) => ({ name: `l${i}`, limit: 1, windowSeconds: 1 })) },
        [['input', 'rateLimits']],
      ],
    ];
    const before = await db.prisma.apiKey.count();
    for (const [input, paths] of cases) {
      const result = await s.graphql(token, CreateKeyDocument, {
        input: { applicationId: appId, name: 'x', ...input },
      });
      expect(result.data.createKey.__typename, JSON.stringify(input)).toBe('ValidationError');
      expect(member(result.data.createKey, 'ValidationError').issues.map((i: { path: string[] }) => i.path)).toEqual(
        paths,
      );
    }
    // Nothing half-written.
    expect(await db.prisma.apiKey.count()).toBe(before);
    const { id } = await createKey({});
    const edit = await s.graphql(token, EditKeyDocument, { input: { id, credits: { remaining: -5 } } });
    expect(edit.data.editKey.__typename).toBe('ValidationError');
  });
});

function localKeyId(globalId: string): string {
  return Buffer.from(globalId, 'base64url').toString().split(':')[1]!;
}
