import { describe, expect, it } from 'vitest';
import { verifiableKey } from '../testing.ts';
import { KeyCache } from './key-cache.ts';

const key = (id: string, applicationId = 'app') =>
  verifiableKey({ id, applicationId, access: 'READ_ONLY', meterKeyId: 'k' });

describe('KeyCache', () => {
  it('keeps at most maxKeys known keys, dropping the least recently used', () => {
    const cache = new KeyCache({ maxKeys: 2, maxMisses: 2, ttlMs: 1000 });
    cache.set('h1', key('k1'));
    cache.set('h2', key('k2'));
    expect(cache.get('h1')).toMatchObject({ found: true }); // h1 is now the most recent
    cache.set('h3', key('k3'));
    expect(cache.get('h2')).toBeUndefined();
    expect(cache.get('h1')).toMatchObject({ found: true });
    expect(cache.get('h3')).toMatchObject({ found: true });
    expect(cache.size).toEqual({ keys: 2, misses: 0 });
  });

  it('remembers unknown hashes in their own bounded space, without pushing known keys out', () => {
    const cache = new KeyCache({ maxKeys: 2, maxMisses: 3, ttlMs: 1000 });
    cache.set('known', key('k'));
    for (let i = 0; i < 100; i++) cache.set(`random${i}`, null);
    expect(cache.get('known')).toMatchObject({ found: true });
    expect(cache.get('random99')).toEqual({ found: false });
    expect(cache.get('random0')).toBeUndefined();
    expect(cache.size).toEqual({ keys: 1, misses: 3 });
  });

  it('forgets entries older than the TTL', () => {
    const clock = { time: 1, now: () => clock.time };
    const cache = new KeyCache({ maxKeys: 10, maxMisses: 10, ttlMs: 1000 }, clock);
    cache.set('h', key('k'));
    cache.set('u', null);
    clock.time = 1001;
    expect(cache.get('h')).toMatchObject({ found: true });
    expect(cache.get('u')).toMatchObject({ found: false });
    clock.time = 1002;
    expect(cache.get('h')).toBeUndefined();
    expect(cache.get('u')).toBeUndefined();
    expect(cache.size).toEqual({ keys: 0, misses: 0 });
  });

  it('invalidates by key id, by application, and by hash (a remembered miss for a new key)', () => {
    const cache = new KeyCache({ maxKeys: 10, maxMisses: 10, ttlMs: 1000 });
    cache.set('h1', key('k1', 'a'));
    cache.set('h2', key('k2', 'a'));
    cache.set('h3', key('k3', 'b'));
    cache.set('new', null);
    cache.invalidate({ keyIds: ['k3'] });
    expect(cache.get('h3')).toBeUndefined();
    cache.invalidate({ applicationId: 'a' });
    expect(cache.get('h1')).toBeUndefined();
    expect(cache.get('h2')).toBeUndefined();
    cache.invalidate({ hashes: ['new'] });
    expect(cache.get('new')).toBeUndefined();
    expect(cache.size).toEqual({ keys: 0, misses: 0 });
  });

  it('invalidates every key of a role, and only those; an evicted key leaves no index behind', () => {
    const cache = new KeyCache({ maxKeys: 3, maxMisses: 1, ttlMs: 1000 });
    cache.set('h1', { ...key('k1'), roleIds: ['r1', 'r2'] });
    cache.set('h2', { ...key('k2'), roleIds: ['r2'] });
    cache.set('h3', key('k3'));
    cache.invalidate({ roleIds: ['r1'] });
    expect(cache.get('h1')).toBeUndefined();
    expect(cache.get('h2')).toMatchObject({ found: true });
    cache.invalidate({ roleIds: ['r2', 'unknown'] });
    expect(cache.get('h2')).toBeUndefined();
    expect(cache.get('h3')).toMatchObject({ found: true });
    // Filled past its size with keys of one role: the evicted ones are gone from the index too.
    for (let i = 0; i < 10; i++) cache.set(`r${i}`, { ...key(`kr${i}`), roleIds: ['r3'] });
    const index = (cache as unknown as { hashesByGroup: Map<string, Set<string>> }).hashesByGroup;
    expect(index.get('r3')?.size).toBe(3);
    cache.invalidate({ roleIds: ['r3'] });
    expect(cache.size.keys).toBe(0);
    expect(index.size).toBe(0);
  });

  it('invalidates every key of an identity', () => {
    const cache = new KeyCache({ maxKeys: 3, maxMisses: 1, ttlMs: 1000 });
    const identity = { id: 'i1', externalId: 'cus_1', metadata: null };
    cache.set('h1', { ...key('k1'), identity });
    cache.set('h2', { ...key('k2'), identity, roleIds: ['r1'] });
    cache.set('h3', key('k3'));
    cache.invalidate({ identityIds: ['i1'] });
    expect([cache.get('h1'), cache.get('h2')]).toEqual([undefined, undefined]);
    expect(cache.get('h3')).toMatchObject({ found: true });
    expect((cache as unknown as { hashesByGroup: Map<string, Set<string>> }).hashesByGroup.size).toBe(0);
  });

  it('keeps its indexes right when entries are evicted and replaced', () => {
    const cache = new KeyCache({ maxKeys: 1, maxMisses: 1, ttlMs: 1000 });
    cache.set('h1', key('k1', 'a'));
    cache.set('h2', key('k2', 'a')); // evicts h1
    cache.set('h1', key('k1', 'a')); // evicts h2
    cache.invalidate({ keyIds: ['k2'] });
    expect(cache.get('h1')).toMatchObject({ found: true });
    cache.invalidate({ applicationId: 'a' });
    expect(cache.get('h1')).toBeUndefined();
  });
});
