// Least privilege from observed use: a month of real verifications through the gateway endpoint
// (a controllable clock walks the days), recorded with the usage flush; the suggestion they lead
// to, how one wider use changes it, applySuggestion refused when use since needs more, and an
// unused key suggested for revocation.
import { globalId } from '@keygate/core';
import {
  ApplySuggestionDocument as APPLY,
  AuditEventsDocument as AUDIT,
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  KeySuggestionDocument as SUGGESTION,
} from '@keygate/sdk/documents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { member, ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
/** The verification clock: walked back and forth through the month. */
const today = Math.floor(Date.now() / HOUR) * HOUR + 20 * 60_000;
let now = today;

let s: TestServer;
let token: string;
let app: string;

beforeAll(async () => {
  s = await startTestServer({ KEYGATE_USAGE_FLUSH_MS: '3600000' }, undefined, { clock: () => now });
  token = await s.merchantToken('northwind');
  app = ok((await s.graphql(token, CREATE_APP, { input: { name: 'Orders API' } })).data.createApplication).application
    .id;
}, 60_000);
afterAll(() => s?.close());

/** A key made `daysAgo` days ago (its creation moved back, as if it had been). */
async function oldKey(name: string, input: Record<string, unknown> = {}, daysAgo = 31) {
  const created = ok(
    (await s.graphql(token, CREATE_KEY, { input: { applicationId: app, name, ...input } })).data.createKey,
  );
  const local = Buffer.from(created.key.id, 'base64').toString().split(':')[1]!;
  await s.db.prisma.$executeRawUnsafe(
    `UPDATE api_keys SET created_at = now() - interval '${daysAgo} days' WHERE id = $1::uuid`,
    local,
  );
  return created;
}

/** One request through the gateway endpoint at `at`, as nginx sends it. */
async function call(secret: string, at: number, method: string, scopes: string) {
  now = at;
  const answer = await s.forwardAuth({ 'x-api-key': secret, 'x-original-method': method }, `scopes=${scopes}`);
  now = today;
  return answer.status;
}

const suggestion = async (id: string, as = token) => {
  const node = (await s.graphql(as, SUGGESTION, { id })).data.node;
  return node && 'suggestion' in node ? node.suggestion : null;
};
const apply = async (keyId: string, suggestionId: string, as = token) =>
  (await s.graphql(as, APPLY, { input: { keyId, suggestionId } })).data.applySuggestion;

describe('a full-access key with no scope limit, used a month by GETs needing orders:read', () => {
  let key: { id: string; secret: string };
  let first: NonNullable<Awaited<ReturnType<typeof suggestion>>>;

  beforeAll(async () => {
    const created = await oldKey('Order sync', { access: 'FULL_ACCESS' });
    key = { id: created.key.id, secret: created.secret };
    for (let day = 29; day >= 1; day--) {
      for (const hour of [9, 14])
        expect(await call(key.secret, today - day * DAY + hour * HOUR, 'GET', 'orders:read')).toBe(200);
    }
    await s.server.usage.flush();
  }, 60_000);

  it('is told to become READ_ONLY with orders:read, with the evidence', async () => {
    first = (await suggestion(key.id))!;
    expect(first).toMatchObject({
      kind: 'NARROW',
      access: 'READ_ONLY',
      scopes: ['orders:read'],
      windowDays: 30,
      evidence: { verifications: 58, readOnly: 58, fullAccess: 0 },
    });
    expect(first.message).toMatch(/^Only READ_ONLY and orders:read were needed in 30 days \(58 verifications\)/);
    expect(first.message).toContain('narrow this FULL_ACCESS with no scope limit key to READ_ONLY and orders:read');
    const [scope] = first.evidence.scopes;
    expect(scope).toMatchObject({ scope: 'orders:read', count: 58 });
    expect(Date.parse(scope!.firstSeen)).toBe(Math.floor((today - 29 * DAY + 9 * HOUR) / HOUR) * HOUR);
    expect(Date.parse(first.evidence.lastSeen!)).toBe(Math.floor((today - DAY + 14 * HOUR) / HOUR) * HOUR);
  });

  it('one POST needing orders:write changes it; the old suggestion is then refused', async () => {
    expect(await call(key.secret, today - 2 * HOUR, 'POST', 'orders:write')).toBe(200);
    await s.server.usage.flush();
    const second = (await suggestion(key.id))!;
    expect(second).toMatchObject({
      kind: 'NARROW',
      access: 'FULL_ACCESS',
      scopes: ['orders:read', 'orders:write'],
      evidence: { verifications: 59, readOnly: 58, fullAccess: 1 },
    });
    const refused = member(await apply(key.id, first.id), 'SuggestionOutdatedError');
    expect(refused.code).toBe('SUGGESTION_OUTDATED');
    expect(refused.message).toContain('1 verifications needed FULL_ACCESS');
    expect(refused.message).toContain('orders:write was needed');
    // Nothing changed.
    expect(
      await s.db.prisma.apiKey.findFirst({ where: { name: 'Order sync' }, select: { access: true, scopes: true } }),
    ).toEqual({
      access: 'FULL_ACCESS',
      scopes: [],
    });

    // The current one applies, is audited, and the key verifies exactly as its use needs.
    const narrowed = ok(await apply(key.id, second.id)).key;
    expect(narrowed).toMatchObject({ access: 'FULL_ACCESS', scopes: ['orders:read', 'orders:write'] });
    expect(await call(key.secret, today, 'GET', 'orders:read')).toBe(200);
    expect(await call(key.secret, today, 'GET', 'refunds:read')).toBe(403);
    const events = (await s.graphql(token, AUDIT, { action: 'applySuggestion', targetId: key.id, first: 5 })).data
      .auditEvents.edges;
    expect(events[0]?.node.summary).toMatchObject({
      kind: 'NARROW',
      scopes: ['orders:read', 'orders:write'],
      before: { access: 'FULL_ACCESS', scopes: [] },
    });
    expect(await suggestion(key.id)).toBeNull();
  });
});

describe('other keys', () => {
  it('a key unused for the window is suggested for revocation, and revoked by applying it', async () => {
    const idle = await oldKey('Old partner integration', {}, 45);
    const offer = (await suggestion(idle.key.id))!;
    expect(offer).toMatchObject({ kind: 'REVOKE_UNUSED', evidence: { verifications: 0 } });
    expect(offer.message).toMatch(/No verification passed with this key in 30 days/);
    const revoked = ok(await apply(idle.key.id, offer.id)).key;
    expect(revoked.status).toBe('REVOKED');
    expect((await s.forwardAuth({ 'x-api-key': idle.secret })).status).toBe(401);
  });

  it('an unused key used since is not revoked', async () => {
    const idle = await oldKey('Store terminal 004', {}, 45);
    const offer = (await suggestion(idle.key.id))!;
    expect(await call(idle.secret, today - HOUR, 'GET', 'orders:read')).toBe(200);
    await s.server.usage.flush();
    expect(member(await apply(idle.key.id, offer.id), 'SuggestionOutdatedError').message).toContain('used since');
    expect((await s.forwardAuth({ 'x-api-key': idle.secret })).status).toBe(200);
  });

  it('a key younger than the window has no suggestion yet', async () => {
    const fresh = ok(
      (await s.graphql(token, CREATE_KEY, { input: { applicationId: app, name: 'New', access: 'FULL_ACCESS' } })).data
        .createKey,
    );
    expect(await call(fresh.secret, today - HOUR, 'GET', 'orders:read')).toBe(200);
    await s.server.usage.flush();
    expect(await suggestion(fresh.key.id)).toBeNull();
  });

  it('a suggestion id that is none is a ValidationError', async () => {
    const idle = await oldKey('Typo', {}, 45);
    const bad = member(await apply(idle.key.id, 'not-a-suggestion'), 'ValidationError');
    expect(bad.issues[0]?.path).toEqual(['input', 'suggestionId']);
  });
});

describe('tenant isolation', () => {
  it("another merchant neither sees a key's suggestion nor applies it", async () => {
    const idle = await oldKey('Warehouse robots', {}, 45);
    const offer = (await suggestion(idle.key.id))!;
    const intruder = await s.merchantToken('intruder');
    expect(await suggestion(idle.key.id, intruder)).toBeNull();
    const missing = globalId('ApiKey', '00000000-0000-7000-8000-000000000000');
    const foreign = member(await apply(idle.key.id, offer.id, intruder), 'NotFoundError');
    const absent = member(await apply(missing, offer.id, intruder), 'NotFoundError');
    const same = (error: { message: string; id: string }) => ({
      ...error,
      id: '',
      message: error.message.replace(error.id, '<id>'),
    });
    expect(same(foreign)).toEqual(same(absent));
    expect((await s.forwardAuth({ 'x-api-key': idle.secret })).status).toBe(200);
  });
});
