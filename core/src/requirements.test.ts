import { describe, expect, it } from 'vitest';
import { accessForMethods, checkScopes, parseAccess, parseCost, parseScopeList } from './requirements.ts';

describe('requirements', () => {
  it('reads scope lists with commas and spaces, within the limits', () => {
    expect(parseScopeList('orders:read, refunds:write')).toEqual(['orders:read', 'refunds:write']);
    expect(parseScopeList('orders:read refunds:*')).toEqual(['orders:read', 'refunds:*']);
    expect(parseScopeList('   ')).toEqual([]);
    expect(parseScopeList('orders read$')).toBeNull();
    expect(parseScopeList(Array.from({ length: 51 }, (_, i) => `s${i}`).join(','))).toBeNull();
    expect(checkScopes(['a', 'b'])).toEqual(['a', 'b']);
    expect(checkScopes(['a', 7])).toBeNull();
    expect(checkScopes(['-leading'])).toBeNull();
  });

  it('reads costs and access levels', () => {
    expect([parseCost('0'), parseCost(' 5 '), parseCost('1000000')]).toEqual([0, 5, 1_000_000]);
    for (const bad of ['-1', '1.5', 'two', '1000001', '', '99999999']) expect(parseCost(bad)).toBeNull();
    expect([parseAccess('read_only'), parseAccess('FULL_ACCESS'), parseAccess('ALL')]).toEqual([
      'READ_ONLY',
      'FULL_ACCESS',
      null,
    ]);
  });

  it('takes the strictest access any claimed method needs', () => {
    expect(accessForMethods(['GET'])).toBe('READ_ONLY');
    expect(accessForMethods([undefined, 'head', 'OPTIONS'])).toBe('READ_ONLY');
    // A client adding "GET" beside the gateway's own "POST" gains nothing, in either header.
    expect(accessForMethods(['GET', 'POST', 'GET'])).toBe('FULL_ACCESS');
    expect(accessForMethods(['POST', 'GET', 'GET'])).toBe('FULL_ACCESS');
    expect(accessForMethods(['GET, DELETE'])).toBe('FULL_ACCESS');
    expect(accessForMethods([''])).toBe('FULL_ACCESS');
  });
});
