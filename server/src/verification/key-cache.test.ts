import { compileIpRules, type VerifiableKey } from '@keygate/core';
import { describe, expect, it } from 'vitest';
import { KeyCache } from './key-cache.ts';

const key = (id: string, applicationId = 'app'): VerifiableKey => ({
  id,
  prefix: 'kg_live_abcd',
  applicationId,
  merchantId: 'm',
  environment: 'LIVE',
  access: 'READ_ONLY',
  scopes: [],
  expiresAt: null,
  revoked: false,
  applicationEnabled: true,
  ipRules: compileIpRules([], 'ALLOW'),
});

describe('KeyCache', () => {
  it('keeps at most maxKeys known keys, dropping the least recently used', () => {
    const cache = new KeyCache({ maxKeys: 2, maxMisses: 2, ttlMs: 1000 });
    cache.set('h1', key('k1'), 0);
    cache.set('h2', key('k2'), 0);
    expect(cache.get('h1', 1)).toMatchObject({ found: true }); // h1 is now the most recent
    cache.set('h3', key('k3'), 0);
    expect(cache.get('h2', 1)).toBeUndefined();
    expect(cache.get('h1', 1)).toMatchObject({ found: true });
    expect(cache.get('h3', 1)).toMatchObject({ found: true });
    expect(cache.size).toEqual({ keys: 2, misses: 0 });
  });

  it('remembers unknown hashes in their own bounded space, without pushing known keys out', () => {
    const cache = new KeyCache({ maxKeys: 2, maxMisses: 3, ttlMs: 1000 });
    cache.set('known', key('k'), 0);
    for (let i = 0; i < 100; i++) cache.set(`random${i}`, null, 0);
    expect(cache.get('known', 1)).toMatchObject({ found: true });
    expect(cache.get('random99', 1)).toEqual({ found: false });
    expect(cache.get('random0', 1)).toBeUndefined();
    expect(cache.size).toEqual({ keys: 1, misses: 3 });
  });

  it('forgets entries older than the TTL', () => {
    const cache = new KeyCache({ maxKeys: 10, maxMisses: 10, ttlMs: 1000 });
    cache.set('h', key('k'), 0);
    cache.set('u', null, 0);
    expect(cache.get('h', 1000)).toMatchObject({ found: true });
    expect(cache.get('h', 1001)).toBeUndefined();
    expect(cache.get('u', 1001)).toBeUndefined();
  });

  it('invalidates by key id, by application, and by hash (a remembered miss for a new key)', () => {
    const cache = new KeyCache({ maxKeys: 10, maxMisses: 10, ttlMs: 1000 });
    cache.set('h1', key('k1', 'a'), 0);
    cache.set('h2', key('k2', 'a'), 0);
    cache.set('h3', key('k3', 'b'), 0);
    cache.set('new', null, 0);
    cache.invalidate({ keyIds: ['k3'] });
    expect(cache.get('h3', 1)).toBeUndefined();
    cache.invalidate({ applicationId: 'a' });
    expect(cache.get('h1', 1)).toBeUndefined();
    expect(cache.get('h2', 1)).toBeUndefined();
    cache.invalidate({ hashes: ['new'] });
    expect(cache.get('new', 1)).toBeUndefined();
    expect(cache.size).toEqual({ keys: 0, misses: 0 });
  });

  it('keeps its indexes right when entries are evicted and replaced', () => {
    const cache = new KeyCache({ maxKeys: 1, maxMisses: 1, ttlMs: 1000 });
    cache.set('h1', key('k1', 'a'), 0);
    cache.set('h2', key('k2', 'a'), 0); // evicts h1
    cache.set('h1', key('k1', 'a'), 0); // evicts h2
    cache.invalidate({ keyIds: ['k2'] });
    expect(cache.get('h1', 1)).toMatchObject({ found: true });
    cache.invalidate({ applicationId: 'a' });
    expect(cache.get('h1', 1)).toBeUndefined();
  });
});
