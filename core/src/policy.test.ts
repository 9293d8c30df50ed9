import { describe, expect, it } from 'vitest';
import { type KeyPolicy, type PolicySubject, policyViolations } from './policy.ts';

const now = Date.parse('2026-12-04T12:00:00Z');
const day = 86_400_000;
const key = (over: Partial<PolicySubject> = {}): PolicySubject => ({
  environment: 'LIVE',
  access: 'READ_ONLY',
  scopes: ['orders:read'],
  expiresAt: now + 30 * day,
  createdAt: now,
  ipRuleCount: 0,
  ipDefaultAction: 'ALLOW',
  ...over,
});
const rules = (policy: KeyPolicy, subject: PolicySubject, change = {}) =>
  policyViolations(policy, subject, change).map((v) => `${v.rule} ${v.field}`);

describe('key policies', () => {
  it('bound a key’s lifetime per environment: no expiry, or one too late, is named on expiresAt', () => {
    const policy: KeyPolicy = { maxLifetimeDays: { live: 90, test: null } };
    expect(rules(policy, key())).toEqual([]);
    expect(rules(policy, key({ expiresAt: null }))).toEqual(['MAX_LIFETIME expiresAt']);
    expect(rules(policy, key({ expiresAt: now + 91 * day }))).toEqual(['MAX_LIFETIME expiresAt']);
    expect(rules(policy, key({ expiresAt: now + 90 * day }))).toEqual([]);
    // Counted from the key's creation: an old key's edit cannot stretch it.
    expect(rules(policy, key({ createdAt: now - 80 * day, expiresAt: now + 20 * day }))).toEqual([
      'MAX_LIFETIME expiresAt',
    ]);
    expect(rules(policy, key({ environment: 'TEST', expiresAt: null }))).toEqual([]);
  });

  it('require IP rules (or a default deny) of full-access keys', () => {
    const policy: KeyPolicy = { fullAccessRequiresIpRules: true };
    expect(rules(policy, key({ access: 'FULL_ACCESS' }))).toEqual(['FULL_ACCESS_NEEDS_IP_RULES access']);
    expect(rules(policy, key({ access: 'FULL_ACCESS', ipRuleCount: 1 }))).toEqual([]);
    expect(rules(policy, key({ access: 'FULL_ACCESS', ipDefaultAction: 'DENY' }))).toEqual([]);
    expect(rules(policy, key())).toEqual([]);
  });

  it('refuse wildcard scopes in live keys only', () => {
    const policy: KeyPolicy = { noWildcardScopesInLive: true };
    expect(policyViolations(policy, key({ scopes: ['orders:*', 'refunds:read'] }))[0]?.message).toBe(
      'live keys may not hold wildcard scopes (orders:*)',
    );
    expect(rules(policy, key({ environment: 'TEST', scopes: ['*'] }))).toEqual([]);
  });

  it('keep scopes within the allowed list, wildcards no wider than an allowed wildcard', () => {
    const policy: KeyPolicy = { allowedScopes: ['orders:*', 'refunds:read'] };
    expect(rules(policy, key({ scopes: ['orders:read', 'orders:write', 'refunds:read'] }))).toEqual([]);
    expect(rules(policy, key({ scopes: ['orders:eu:*'] }))).toEqual([]);
    expect(policyViolations(policy, key({ scopes: ['refunds:write', '*', 'orders:read'] }))[0]?.message).toBe(
      'scopes outside what the policy allows (orders:*, refunds:read): refunds:write, *',
    );
    // No scopes means everything the access allows: wider than any list.
    expect(rules(policy, key({ scopes: [] }))).toEqual(['ALLOWED_SCOPES scopes']);
  });

  it('bound a roll’s grace period, and name every rule a key breaks at once', () => {
    const policy: KeyPolicy = {
      maxGracePeriodSeconds: 3600,
      maxLifetimeDays: { live: 30 },
      noWildcardScopesInLive: true,
    };
    expect(rules(policy, key(), { gracePeriodSeconds: 3600 })).toEqual([]);
    expect(rules(policy, key({ expiresAt: null, scopes: ['*'] }), { gracePeriodSeconds: 86_400 })).toEqual([
      'MAX_LIFETIME expiresAt',
      'NO_WILDCARD_SCOPES_IN_LIVE scopes',
      'MAX_GRACE_PERIOD gracePeriodSeconds',
    ]);
    expect(rules({}, key({ expiresAt: null, scopes: ['*'], access: 'FULL_ACCESS' }))).toEqual([]);
  });
});
