import { describe, expect, it } from 'vitest';
import { compileIpRules } from './ip-rules.ts';
import { verifiableKey } from './testing.ts';
import { decide, scopesAllow } from './verification.ts';

const now = Date.parse('2026-06-01T00:00:00Z');
const key = verifiableKey;
const request = { key: 'x' };

describe('decide', () => {
  it('is VALID for an active key with no requirements', () => {
    expect(decide(key(), request, now)).toBe('VALID');
  });

  it.each([
    ['REVOKED', key({ revoked: true, expiresAt: now - 1, applicationEnabled: false })],
    ['EXPIRED', key({ expiresAt: now, applicationEnabled: false })],
    ['APPLICATION_DISABLED', key({ applicationEnabled: false, ipRules: compileIpRules([], 'DENY') })],
    ['IP_DENIED', key({ ipRules: compileIpRules([], 'DENY'), access: 'READ_ONLY' })],
    ['INSUFFICIENT_ACCESS', key({ access: 'READ_ONLY', scopes: ['other'] })],
    ['INSUFFICIENT_SCOPE', key({ scopes: ['other'] })],
  ])('answers %s first when several checks fail', (code, stored) => {
    expect(
      decide(
        stored,
        { key: 'x', ip: '10.0.0.1', requiredAccess: 'FULL_ACCESS', requiredScopes: ['payments:write'] },
        now,
      ),
    ).toBe(code);
  });

  it('accepts a key until the moment it expires', () => {
    expect(decide(key({ expiresAt: now + 1 }), request, now)).toBe('VALID');
    expect(decide(key({ expiresAt: now }), request, now)).toBe('EXPIRED');
  });

  it('lets a read-only key do reads only', () => {
    const readOnly = key({ access: 'READ_ONLY' });
    expect(decide(readOnly, { key: 'x', requiredAccess: 'READ_ONLY' }, now)).toBe('VALID');
    expect(decide(readOnly, { key: 'x' }, now)).toBe('VALID');
    expect(decide(readOnly, { key: 'x', requiredAccess: 'FULL_ACCESS' }, now)).toBe('INSUFFICIENT_ACCESS');
  });

  it('applies IP rules to the request address', () => {
    const rules = key({ ipRules: compileIpRules([{ cidr: '203.0.113.0/24', action: 'ALLOW' }], 'DENY') });
    expect(decide(rules, { key: 'x', ip: '203.0.113.9' }, now)).toBe('VALID');
    expect(decide(rules, { key: 'x', ip: '198.51.100.1' }, now)).toBe('IP_DENIED');
    expect(decide(rules, { key: 'x' }, now)).toBe('IP_DENIED');
  });
});

describe('scopesAllow', () => {
  it.each([
    [[], ['anything'], true],
    [['payments:write'], ['payments:write'], true],
    [['payments:write'], ['payments:read'], false],
    [['payments:read', 'refunds:read'], ['payments:read', 'refunds:read'], true],
    [['payments:read'], ['payments:read', 'refunds:read'], false],
    [['payments:*'], ['payments:write', 'payments:read'], true],
    [['payments:*'], ['paymentsx'], false],
    [['*'], ['a', 'b:c'], true],
    [['payments:write'], ['payments:write:all'], false],
  ])('%j covers %j: %s', (granted, required, expected) => {
    expect(scopesAllow(granted, required)).toBe(expected);
  });
});
