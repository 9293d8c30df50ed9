import { describe, expect, it } from 'vitest';
import { fromRecord, type KeyRecord } from './record.ts';

/** A record as a verifier gets it: parsed from JSON, so every string and list is its own copy. */
const parsed = (overrides: Partial<KeyRecord> = {}): KeyRecord =>
  JSON.parse(
    JSON.stringify({
      id: crypto.randomUUID(),
      prefix: 'kg_live_ab12',
      applicationId: '3f0c8d9e-4b1a-4c2d-9e8f-7a6b5c4d3e2f',
      merchantId: 'merchant_with_a_long_name_42',
      environment: 'LIVE',
      access: 'FULL_ACCESS',
      scopes: ['orders:write', 'refunds:*'],
      expiresAt: null,
      revoked: false,
      enabled: true,
      applicationEnabled: true,
      ipRules: { defaultAction: 'ALLOW', rules: [] },
      meter: null,
      meterKeyId: null,
      metadata: null,
      externalId: null,
      ...overrides,
    }),
  );

describe('fromRecord', () => {
  it('keeps one copy of what cached keys share: ids of applications and merchants, access, scope lists', () => {
    const [a, b] = [fromRecord(parsed()), fromRecord(parsed())];
    expect(a.applicationId).toBe(b.applicationId);
    expect(a.merchantId).toBe(b.merchantId);
    expect(a.access).toBe('FULL_ACCESS');
    expect(a.environment).toBe('LIVE');
    // The same list, not an equal one: a key's scopes are one shared (read-only) array.
    expect(a.scopes).toBe(b.scopes);
    expect(a.scopes).toEqual(['orders:write', 'refunds:*']);
  });

  it('keeps lists that differ in content or order apart', () => {
    const base = fromRecord(parsed());
    const other = fromRecord(parsed({ scopes: ['refunds:*', 'orders:write'] }));
    const fewer = fromRecord(parsed({ scopes: ['orders:write'] }));
    const none = fromRecord(parsed({ scopes: [] }));
    expect(other.scopes).not.toBe(base.scopes);
    expect(other.scopes).toEqual(['refunds:*', 'orders:write']);
    expect(fewer.scopes).toEqual(['orders:write']);
    expect(none.scopes).toEqual([]);
    // A scope whose text holds the list's separators is not confused with two scopes.
    const tricky = fromRecord(parsed({ scopes: ['orders:write","refunds:*'] }));
    expect(tricky.scopes).toEqual(['orders:write","refunds:*']);
    expect(tricky.scopes).not.toBe(base.scopes);
  });
});
