// Key policies: each rule refuses a violating createKey, editKey, rollKey, setIpRules and
// importKeys with every violation named (rule and input path), and lets a conforming one through;
// the dry run lists exactly the existing keys a policy would find outside it and changes nothing;
// the operator's default applies until a merchant sets its own; one merchant's policy never
// touches another's keys.
import { createHash, randomBytes } from 'node:crypto';
import {
  AuditEventsDocument as AUDIT,
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  CreateRoleDocument as CREATE_ROLE,
  EditKeyDocument as EDIT_KEY,
  ImportKeysDocument as IMPORT,
  type KeyPolicyInput,
  OverviewDocument as OVERVIEW,
  PolicyDocument as POLICY,
  RegisterImportPrefixDocument as REGISTER_PREFIX,
  RevokeKeyDocument as REVOKE,
  RoleDocument as ROLE,
  RollKeyDocument as ROLL,
  SetIpRulesDocument as SET_IP_RULES,
  SetPolicyDocument as SET_POLICY,
  UpdateRoleDocument as UPDATE_ROLE,
} from '@keygate/sdk/documents';
import { keysOutOfPolicy } from '@keygate/services/policies';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { member, ok } from '../support/results.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let s: TestServer;

const DAY = 86_400_000;
const inDays = (days: number) => new Date(Date.now() + days * DAY).toISOString();

beforeAll(async () => {
  // The operator's default: test keys live at most 30 days, for merchants that set no policy.
  s = await startTestServer({ KEYGATE_DEFAULT_KEY_POLICY: '{"maxLifetimeDays":{"test":30}}' });
}, 60_000);
afterAll(() => s?.close());

/** A merchant of its own, with one application. */
async function merchant(name: string) {
  const token = await s.merchantToken(`${name.toLowerCase().replace(/\W+/g, '-')}-${randomBytes(4).toString('hex')}`);
  const app = ok(
    (await s.graphql(token, CREATE_APP, { input: { name: `${name} checkout API` } })).data.createApplication,
  ).application.id;
  const create = async (input: Record<string, unknown> = {}) =>
    (await s.graphql(token, CREATE_KEY, { input: { applicationId: app, name: 'Checkout backend', ...input } })).data
      .createKey;
  const setPolicy = async (input: KeyPolicyInput, dryRun = false, page: { first?: number; after?: string } = {}) =>
    (await s.graphql(token, SET_POLICY, { input, dryRun, ...page })).data.setPolicy;
  return { token, app, create, setPolicy };
}

/** Each violation as "RULE input.path". */
const named = (result: unknown) =>
  member(result as { __typename: string }, 'PolicyViolationError' as never) as unknown as {
    code: string;
    violations: { rule: string; field: string; path: string[]; message: string }[];
  };
const violations = (result: unknown) => named(result).violations.map((v) => `${v.rule} ${v.path.join('.')}`);

describe('the operator default and the merchant policy', () => {
  it('a merchant without its own policy follows the operator default', async () => {
    const m = await merchant('Defaulted');
    const policy = (await s.graphql(m.token, POLICY, {})).data.policy;
    expect(policy).toMatchObject({ source: 'PLATFORM_DEFAULT', maxLifetimeDays: { live: null, test: 30 } });
    expect(violations(await m.create({ environment: 'TEST' }))).toEqual(['MAX_LIFETIME input.expiresAt']);
    ok(await m.create({ environment: 'TEST', expiresAt: inDays(29) }));
    // Live keys are not bounded by this default.
    ok(await m.create({ environment: 'LIVE' }));
  });

  it("the merchant's own policy replaces the default, and is audited", async () => {
    const m = await merchant('Own policy');
    const set = ok(await m.setPolicy({ maxLifetimeDays: { live: 90 }, maxGracePeriodSeconds: 3600 }));
    expect(set).toMatchObject({
      dryRun: false,
      policy: { source: 'MERCHANT', maxLifetimeDays: { live: 90, test: null } },
    });
    ok(await m.create({ environment: 'TEST' }));
    expect(violations(await m.create())).toEqual(['MAX_LIFETIME input.expiresAt']);
    const events = (await s.graphql(m.token, AUDIT, { action: 'setPolicy', first: 5 })).data.auditEvents.edges;
    expect(events).toHaveLength(1);
    expect(events[0]!.node.summary).toMatchObject({
      rules: { maxLifetimeDays: { live: 90, test: null }, maxGracePeriodSeconds: 3600 },
      before: { source: 'PLATFORM_DEFAULT', rules: { maxLifetimeDays: { live: null, test: 30 } } },
    });
  });

  it('refuses a policy that is not one, naming the field', async () => {
    const m = await merchant('Bad input');
    const bad = async (input: KeyPolicyInput) =>
      member(await m.setPolicy(input), 'ValidationError').issues.map((issue) => issue.path.join('.'));
    expect(await bad({ maxLifetimeDays: { live: 0 } })).toEqual(['input.maxLifetimeDays.live']);
    expect(await bad({ allowedScopes: ['orders read'] })).toEqual(['input.allowedScopes.0']);
    expect(await bad({ allowedScopes: Array.from({ length: 101 }, (_, i) => `scope${i}`) })).toEqual([
      'input.allowedScopes',
    ]);
    expect(await bad({ maxGracePeriodSeconds: 8 * 86_400 })).toEqual(['input.maxGracePeriodSeconds']);
    expect((await s.graphql(m.token, POLICY, {})).data.policy.source).toBe('PLATFORM_DEFAULT');
  });

  it('anonymous and service callers cannot read or set a policy', async () => {
    const anonymous = await s.graphql(null, SET_POLICY, { input: { fullAccessRequiresIpRules: true } });
    expect(anonymous.status).toBe(401);
    const service = await s.graphql(await s.verifierToken(), POLICY, {});
    expect(service.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('each rule', () => {
  it('MAX_LIFETIME: live keys expire within the days of their creation', async () => {
    const m = await merchant('Lifetime');
    ok(await m.setPolicy({ maxLifetimeDays: { live: 90 } }));
    const refused = named(await m.create({ expiresAt: inDays(120) }));
    expect(refused.code).toBe('POLICY_VIOLATION');
    expect(refused.violations).toEqual([
      expect.objectContaining({ rule: 'MAX_LIFETIME', field: 'expiresAt', path: ['input', 'expiresAt'] }),
    ]);
    expect(refused.violations[0]!.message).toMatch(/within 90 days/);
    const key = ok(await m.create({ expiresAt: inDays(80) })).key;
    // Moving its expiry past the bound, or taking it away, is refused; a rename is not.
    expect(
      violations((await s.graphql(m.token, EDIT_KEY, { input: { id: key.id, expiresAt: null } })).data.editKey),
    ).toEqual(['MAX_LIFETIME input.expiresAt']);
    ok((await s.graphql(m.token, EDIT_KEY, { input: { id: key.id, name: 'Checkout (EU)' } })).data.editKey);
  });

  it('FULL_ACCESS_NEEDS_IP_RULES: on create, edit and setIpRules', async () => {
    const m = await merchant('Full access');
    ok(await m.setPolicy({ fullAccessRequiresIpRules: true }));
    expect(violations(await m.create({ access: 'FULL_ACCESS' }))).toEqual(['FULL_ACCESS_NEEDS_IP_RULES input.access']);
    const limited = ok(
      await m.create({
        access: 'FULL_ACCESS',
        ipRules: [{ cidr: '203.0.113.0/24', action: 'ALLOW' }],
        ipDefaultAction: 'DENY',
      }),
    ).key;
    expect(limited.ipRules).toEqual([{ cidr: '203.0.113.0/24', action: 'ALLOW' }]);
    // Taking its rules away is refused, and names the rules; deny-by-default with no rule is limited too.
    const cleared = (
      await s.graphql(m.token, SET_IP_RULES, { input: { keyId: limited.id, rules: [], defaultAction: 'ALLOW' } })
    ).data.setIpRules;
    expect(violations(cleared)).toEqual(['FULL_ACCESS_NEEDS_IP_RULES input.rules']);
    ok(
      (await s.graphql(m.token, SET_IP_RULES, { input: { keyId: limited.id, rules: [], defaultAction: 'DENY' } })).data
        .setIpRules,
    );
    const reader = ok(await m.create()).key;
    expect(
      violations(
        (await s.graphql(m.token, EDIT_KEY, { input: { id: reader.id, access: 'FULL_ACCESS' } })).data.editKey,
      ),
    ).toEqual(['FULL_ACCESS_NEEDS_IP_RULES input.access']);
  });

  it("NO_WILDCARD_SCOPES_IN_LIVE: the key's own scopes and its roles'", async () => {
    const m = await merchant('Wildcards');
    ok(await m.setPolicy({ noWildcardScopesInLive: true }));
    expect(violations(await m.create({ scopes: ['orders:*'] }))).toEqual(['NO_WILDCARD_SCOPES_IN_LIVE input.scopes']);
    ok(await m.create({ scopes: ['orders:*'], environment: 'TEST' }));
    const role = ok(
      (await s.graphql(m.token, CREATE_ROLE, { input: { name: 'Refunds', scopes: ['refunds:*'] } })).data.createRole,
    ).role;
    const refused = named(await m.create({ scopes: ['orders:read'], roles: [role.id] }));
    expect(refused.violations[0]!.message).toContain('refunds:*');
    ok(await m.create({ scopes: ['orders:read'] }));
  });

  it('ALLOWED_SCOPES: every scope within the list; no scopes at all is everything', async () => {
    const m = await merchant('Allowed');
    ok(await m.setPolicy({ allowedScopes: ['orders:*', 'refunds:read'] }));
    ok(await m.create({ scopes: ['orders:read', 'orders:*', 'refunds:read'] }));
    const outside = named(await m.create({ scopes: ['orders:read', 'payouts:write', 'refunds:*'] }));
    expect(outside.violations.map((v) => v.rule)).toEqual(['ALLOWED_SCOPES']);
    expect(outside.violations[0]!.message).toMatch(/payouts:write, refunds:\*$/);
    expect(violations(await m.create({ scopes: [] }))).toEqual(['ALLOWED_SCOPES input.scopes']);
  });

  it('MAX_GRACE_PERIOD and the lifetime of the new key on a roll', async () => {
    const m = await merchant('Rolls');
    const old = ok(await m.create()).key;
    ok(await m.setPolicy({ maxGracePeriodSeconds: 3600, maxLifetimeDays: { live: 90 } }));
    const roll = async (input: Record<string, unknown>) =>
      (await s.graphql(m.token, ROLL, { input: { id: old.id, ...input } })).data.rollKey;
    // The old key predates the policy and never expires: its replacement must.
    expect(violations(await roll({ gracePeriodSeconds: 7200 }))).toEqual([
      'MAX_LIFETIME input.expiresAt',
      'MAX_GRACE_PERIOD input.gracePeriodSeconds',
    ]);
    const rolled = ok(await roll({ gracePeriodSeconds: 600, expiresAt: inDays(60) }));
    expect(new Date(rolled.key.expiresAt!).getTime()).toBeGreaterThan(Date.now() + 59 * DAY);
  });

  it('reports every broken rule of one change at once', async () => {
    const m = await merchant('Everything');
    ok(
      await m.setPolicy({
        maxLifetimeDays: { live: 30 },
        fullAccessRequiresIpRules: true,
        noWildcardScopesInLive: true,
        allowedScopes: ['orders:read'],
      }),
    );
    expect(violations(await m.create({ access: 'FULL_ACCESS', scopes: ['orders:*'] }))).toEqual([
      'MAX_LIFETIME input.expiresAt',
      'FULL_ACCESS_NEEDS_IP_RULES input.access',
      'NO_WILDCARD_SCOPES_IN_LIVE input.scopes',
      'ALLOWED_SCOPES input.scopes',
    ]);
    // Nothing was written: the application has no key.
    const keys = await s.db.prisma.apiKey.count({ where: { application: { name: 'Everything checkout API' } } });
    expect(keys).toBe(0);
  });

  it('importKeys: all or nothing, each bad row named', async () => {
    const m = await merchant('Imports');
    ok((await s.graphql(m.token, REGISTER_PREFIX, { input: { prefix: 'sk_live_' } })).data.registerImportPrefix);
    ok(await m.setPolicy({ maxLifetimeDays: { live: 365 }, noWildcardScopesInLive: true }));
    const row = (extra: Record<string, unknown>) => {
      const secret = `sk_live_${randomBytes(24).toString('base64url')}`;
      return {
        hash: createHash('sha256').update(secret).digest('hex'),
        prefix: secret.slice(0, 12),
        name: 'Legacy integration',
        expiresAt: inDays(200),
        ...extra,
      };
    };
    const imported = (
      await s.graphql(m.token, IMPORT, {
        input: { applicationId: m.app, keys: [row({}), row({ expiresAt: null }), row({ scopes: ['orders:*'] })] },
      })
    ).data.importKeys;
    expect(violations(imported)).toEqual([
      'MAX_LIFETIME input.keys.1.expiresAt',
      'NO_WILDCARD_SCOPES_IN_LIVE input.keys.2.scopes',
    ]);
    expect(await s.db.prisma.apiKey.count({ where: { application: { name: 'Imports checkout API' } } })).toBe(0);
    expect(
      ok(
        (await s.graphql(m.token, IMPORT, { input: { applicationId: m.app, keys: [row({}), row({})] } })).data
          .importKeys,
      ).imported,
    ).toBe(2);
  });
});

describe('the dry run', () => {
  it('lists exactly the keys the policy would find outside it, pages them, and changes nothing', async () => {
    const m = await merchant('Dry run');
    const forever = [];
    for (let i = 0; i < 5; i++) forever.push(ok(await m.create({ name: `Forever ${i}` })).key.id);
    const wild = ok(await m.create({ name: 'Wildcard', scopes: ['orders:*'], expiresAt: inDays(10) })).key.id;
    const fine = ok(await m.create({ name: 'Conforming', scopes: ['orders:read'], expiresAt: inDays(10) })).key.id;
    ok(await m.create({ name: 'Test', environment: 'TEST', scopes: ['orders:*'], expiresAt: inDays(10) }));
    const before = {
      audit: await s.db.prisma.auditEvent.count(),
      keys: await s.db.prisma.apiKey.count(),
      policies: await s.db.prisma.keyPolicy.count(),
    };
    const proposal = { maxLifetimeDays: { live: 90 }, noWildcardScopesInLive: true };
    const first = ok(await m.setPolicy(proposal, true, { first: 4 }));
    expect(first.dryRun).toBe(true);
    const page1 = first.policy.keysOutOfPolicy;
    expect(page1.totalCount).toBe(6);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const second = ok(await m.setPolicy(proposal, true, { first: 4, after: page1.pageInfo.endCursor! }));
    const listed = [...page1.edges, ...second.policy.keysOutOfPolicy.edges];
    expect(listed.map((edge) => edge.node.key.id).sort()).toEqual([...forever, wild].sort());
    expect(listed.map((edge) => edge.node.key.id)).not.toContain(fine);
    const reasons = Object.fromEntries(listed.map((e) => [e.node.key.name, e.node.violations.map((v) => v.rule)]));
    expect(reasons.Wildcard).toEqual(['NO_WILDCARD_SCOPES_IN_LIVE']);
    expect(reasons['Forever 0']).toEqual(['MAX_LIFETIME']);
    // Nothing changed: no policy, no audit event, every key as it was and still made freely.
    expect({
      audit: await s.db.prisma.auditEvent.count(),
      keys: await s.db.prisma.apiKey.count(),
      policies: await s.db.prisma.keyPolicy.count(),
    }).toEqual(before);
    expect((await s.graphql(m.token, POLICY, {})).data.policy.source).toBe('PLATFORM_DEFAULT');
    ok(await m.create({ name: 'Still free', scopes: ['orders:*'] }));
  });

  it('reads only keys that can break a rule, and finds the same keys as judging every key', async () => {
    // No policy yet: every shape of key can be made. 64 keys, each a different mix of environment,
    // access, scopes (none, exact, wildcard, under a wildcard), roles, IP rules and lifetime.
    const m = await merchant('Judged in SQL');
    ok(await m.setPolicy({})); // its own empty policy, not the operator's default
    const role = async (scopes: string[]) =>
      ok(
        (
          await s.graphql(m.token, CREATE_ROLE, {
            input: { name: `Role ${randomBytes(3).toString('hex')}`, scopes },
          })
        ).data.createRole,
      ).role.id;
    const roles = [[], [await role(['orders:read'])], [await role(['refunds:*'])]];
    const scopeSets = [[], ['orders:read'], ['orders:*'], ['refunds:write', 'orders:read'], ['refunds:*']];
    const lifetimes: (number | null)[] = [null, 10, 89.99, 90, 91, 400];
    const created = new Date(Date.now() - 5 * DAY);
    for (let i = 0; i < 64; i++) {
      const days = lifetimes[i % lifetimes.length]!;
      const key = ok(
        await m.create({
          name: `Shape ${i}`,
          environment: i % 2 === 0 ? 'LIVE' : 'TEST',
          access: i % 3 === 0 ? 'READ_ONLY' : 'FULL_ACCESS',
          scopes: scopeSets[i % scopeSets.length],
          roles: roles[(i >> 2) % roles.length],
          ...(i % 7 < 2 ? { ipRules: [{ cidr: '203.0.113.0/24', action: 'ALLOW' }] } : {}),
          ...(i % 7 === 2 ? { ipDefaultAction: 'DENY' } : {}),
          ...(days === null ? {} : { expiresAt: new Date(created.getTime() + days * DAY).toISOString() }),
        }),
      ).key;
      // Made five days ago: lifetimes are counted from creation.
      const id = Buffer.from(key.id, 'base64').toString().split(':')[1]!;
      await s.db.prisma.apiKey.update({ where: { id }, data: { createdAt: created } });
    }
    const merchantId = (
      await s.db.prisma.application.findFirstOrThrow({ where: { name: 'Judged in SQL checkout API' } })
    ).merchantId;
    const ctx = { prisma: s.db.prisma, viewer: { merchantId }, settings: {} } as never;
    const policies: KeyPolicyInput[] = [
      { maxLifetimeDays: { live: 90 } },
      { maxLifetimeDays: { test: 30, live: 400 } },
      { fullAccessRequiresIpRules: true },
      { noWildcardScopesInLive: true },
      { allowedScopes: ['orders:read', 'refunds:*'] },
      { allowedScopes: ['orders:*'] },
      { allowedScopes: [] },
      { maxGracePeriodSeconds: 60 },
      { maxLifetimeDays: { live: 90 }, fullAccessRequiresIpRules: true, noWildcardScopesInLive: true },
    ];
    const outcomes: number[] = [];
    for (const policy of policies) {
      const filtered = await keysOutOfPolicy(ctx, policy as never);
      const every = await keysOutOfPolicy(ctx, policy as never, { everyKey: true });
      expect(filtered, JSON.stringify(policy)).toEqual(every);
      outcomes.push(every.length);
      // And the dry run answers the same through the API.
      expect(ok(await m.setPolicy(policy, true, { first: 1 })).policy.keysOutOfPolicy.totalCount).toBe(every.length);
    }
    // The policies find different, non-trivial sets: the comparison above can fail.
    expect(outcomes.filter((n) => n > 0 && n < 64).length).toBeGreaterThanOrEqual(6);
    expect(outcomes).toContain(64);
    expect(outcomes).toContain(0);
  });

  it('once set, the overview lists the keys out of policy; they keep working', async () => {
    const m = await merchant('Overview');
    const old = ok(await m.create({ name: 'From before the policy' }));
    ok(await m.setPolicy({ maxLifetimeDays: { live: 90 } }));
    const now = Date.now();
    const overview = (
      await s.graphql(m.token, OVERVIEW, {
        from: new Date(now - DAY).toISOString(),
        to: new Date(now).toISOString(),
        expiringWithinSeconds: 86_400,
        unusedForSeconds: 86_400,
      })
    ).data;
    expect(overview.policy.keysOutOfPolicy.totalCount).toBe(1);
    expect(overview.policy.keysOutOfPolicy.edges[0]!.node.key.id).toBe(old.key.id);
    expect((await s.forwardAuth({ 'x-api-key': old.secret })).status).toBe(200);
  });
});

describe('role edits', () => {
  /** A role with these scopes, and `keys` live keys that have it. */
  async function roleOnKeys(m: Awaited<ReturnType<typeof merchant>>, scopes: string[], keys: number, input = {}) {
    const role = ok(
      (await s.graphql(m.token, CREATE_ROLE, { input: { name: `Role ${randomBytes(3).toString('hex')}`, scopes } }))
        .data.createRole,
    ).role;
    const made = await Promise.all(
      Array.from({ length: keys }, async () => ok(await m.create({ roles: [role.id], ...input })).key),
    );
    return { role, keys: made };
  }
  const updateRole = async (token: string, id: string, scopes: string[]) =>
    (await s.graphql(token, UPDATE_ROLE, { input: { id, scopes } })).data.updateRole;
  const scopesOf = async (token: string, id: string) => (await s.graphql(token, ROLE, { id })).data.role?.scopes;

  it('new scopes that take the role\u2019s keys outside the policy are refused, and nothing changes', async () => {
    const m = await merchant('Role escalation');
    const { role } = await roleOnKeys(m, ['orders:read'], 12);
    ok(await m.setPolicy({ allowedScopes: ['orders:*', 'refunds:read'] }));
    const refused = named(await updateRole(m.token, role.id, ['orders:read', 'admin:write']));
    expect(refused.code).toBe('POLICY_VIOLATION');
    expect(refused.violations.map((v) => `${v.rule} ${v.path.join('.')}`)).toEqual(['ALLOWED_SCOPES input.scopes']);
    expect(refused.violations[0]!.message).toMatch(/admin:write, for the 12 keys with this role$/);
    expect(await scopesOf(m.token, role.id)).toEqual(['orders:read']);
    const audit = (await s.graphql(m.token, AUDIT, { action: 'updateRole', first: 5 })).data.auditEvents.edges;
    expect(audit).toHaveLength(0);
    // Within the policy it goes through.
    expect(ok(await updateRole(m.token, role.id, ['orders:*', 'refunds:read'])).role.scopes).toEqual([
      'orders:*',
      'refunds:read',
    ]);
  });

  it('no wildcards in live: refused for a role on a live key, allowed on test keys only', async () => {
    const m = await merchant('Role wildcards');
    ok(await m.setPolicy({ noWildcardScopesInLive: true }));
    const live = await roleOnKeys(m, ['orders:read'], 1);
    const test = await roleOnKeys(m, ['orders:read'], 2, { environment: 'TEST' });
    expect(violations(await updateRole(m.token, live.role.id, ['orders:*']))).toEqual([
      'NO_WILDCARD_SCOPES_IN_LIVE input.scopes',
    ]);
    ok(await updateRole(m.token, test.role.id, ['orders:*']));
    // Revoked keys do not count: with its one live key revoked, the role may change.
    ok((await s.graphql(m.token, REVOKE, { input: { id: live.keys[0]!.id } })).data.revokeKey);
    ok(await updateRole(m.token, live.role.id, ['orders:*']));
  });

  it('a key outside the policy by its own scopes neither blocks the role nor gets more through it', async () => {
    const m = await merchant('Role with old keys');
    const { role } = await roleOnKeys(m, ['orders:read', 'orders:write'], 1, { scopes: ['payouts:write'] });
    ok(await m.setPolicy({ allowedScopes: ['orders:*'] }));
    // Narrowing, and adding scopes the policy allows, are both fine; the old key stays as it is.
    ok(await updateRole(m.token, role.id, ['orders:read']));
    ok(await updateRole(m.token, role.id, ['orders:read', 'orders:refund']));
    // But the role cannot give that key more of what the rule forbids: what it gains is judged.
    const more = named(await updateRole(m.token, role.id, ['orders:read', 'orders:refund', 'payouts:read']));
    expect(more.violations.map((v) => [v.rule, v.message])).toEqual([
      ['ALLOWED_SCOPES', 'scopes outside what the policy allows (orders:*): payouts:read, for the key with this role'],
    ]);
    expect(await scopesOf(m.token, role.id)).toEqual(['orders:read', 'orders:refund']);
  });

  it("one merchant's policy never judges, blocks or reveals another's roles", async () => {
    const a = await merchant('Role tenant A');
    const b = await merchant('Role tenant B');
    const aRole = await roleOnKeys(a, ['orders:read'], 2);
    ok(await b.setPolicy({ allowedScopes: ['orders:read'] }));
    // B's policy does not reach A's role, and B cannot touch A's role at all.
    ok(await updateRole(a.token, aRole.role.id, ['orders:read', 'admin:write']));
    const foreign = await updateRole(b.token, aRole.role.id, ['orders:read']);
    expect(member(foreign, 'NotFoundError' as never)).toMatchObject({ code: 'NOT_FOUND' });
    expect(await scopesOf(a.token, aRole.role.id)).toEqual(['orders:read', 'admin:write']);
  });
});

describe('tenant isolation', () => {
  it("one merchant's policy, dry run and list never reach another's keys", async () => {
    const a = await merchant('Tenant A');
    const b = await merchant('Tenant B');
    ok(await b.create({ name: 'B forever' }));
    const aKey = ok(await a.create({ name: 'A forever' })).key.id;
    ok(await b.setPolicy({ maxLifetimeDays: { live: 7 }, fullAccessRequiresIpRules: true }));
    // A is untouched by B's policy.
    ok(await a.create({ access: 'FULL_ACCESS' }));
    expect((await s.graphql(a.token, POLICY, {})).data.policy.source).toBe('PLATFORM_DEFAULT');
    // A's dry run judges A's keys only, and B's policy lists B's keys only.
    const dry = ok(await a.setPolicy({ maxLifetimeDays: { live: 7 } }, true, { first: 50 }));
    expect(dry.policy.keysOutOfPolicy.edges.map((e) => e.node.key.name).sort()).toEqual(
      ['A forever', 'Checkout backend'].sort(),
    );
    const bList = (await s.graphql(b.token, POLICY, { first: 50 })).data.policy.keysOutOfPolicy;
    expect(bList.edges.map((e) => e.node.key.name)).toEqual(['B forever']);
    expect(bList.edges.map((e) => e.node.key.id)).not.toContain(aKey);
    // B's setPolicy is in B's audit trail only.
    expect((await s.graphql(a.token, AUDIT, { action: 'setPolicy', first: 5 })).data.auditEvents.edges).toHaveLength(0);
  });
});
