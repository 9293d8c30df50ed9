import { describe, expect, it } from 'vitest';
import { generateKey, hashKey, type VerifiableKey } from '../index.ts';
import { verifiableKey } from '../testing.ts';
import { FailureLimiter } from './failure-limiter.ts';
import { KeyCache } from './key-cache.ts';
import { Verifier } from './verifier.ts';

const stored = (revoked: boolean) => verifiableKey({ revoked, access: 'READ_ONLY' });

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('Verifier', () => {
  const { secret } = generateKey('live');
  const cache = () => new KeyCache({ maxKeys: 10, maxMisses: 10, ttlMs: 60_000 });

  it('does not cache a load that an invalidation overtook', async () => {
    const loads: ReturnType<typeof deferred<VerifiableKey>>[] = [];
    const verifier = new Verifier(
      () => {
        const load = deferred<VerifiableKey>();
        loads.push(load);
        return load.promise;
      },
      cache(),
      null,
    );
    const first = verifier.verify({ key: secret });
    // The key is revoked (and the change announced) while the first read is in flight…
    verifier.invalidate({ keyIds: ['k'] });
    loads[0]!.resolve(stored(false));
    expect((await first).code).toBe('VALID');
    // …so that stale read must not be served from memory afterwards.
    const second = verifier.verify({ key: secret });
    expect(second).toBeInstanceOf(Promise);
    loads[1]!.resolve(stored(true));
    expect((await second).code).toBe('REVOKED');
  });

  it('answers a key it knows from memory, and refuses a damaged one every time without a load', async () => {
    let loads = 0;
    const limiter = new FailureLimiter({ burst: 100, windowMs: 60_000, maxClients: 10 });
    const verifier = new Verifier(
      async () => {
        loads++;
        return stored(false);
      },
      cache(),
      null,
      limiter,
    );
    expect((await verifier.verify({ key: secret, ip: '203.0.113.7' })).code).toBe('VALID');
    expect(verifier.verify({ key: secret, ip: '203.0.113.7' })).toMatchObject({ code: 'VALID' });
    // The same length, one character changed: the checksum no longer matches.
    const damaged = `${secret.slice(0, 10)}${secret[10] === 'a' ? 'b' : 'a'}${secret.slice(11)}`;
    for (let i = 0; i < 3; i++) {
      expect(verifier.verify({ key: damaged, ip: '203.0.113.7' })).toEqual({ code: 'MALFORMED' });
      expect(verifier.verify({ key: `${secret}x`, ip: '203.0.113.7' })).toEqual({ code: 'MALFORMED' });
    }
    expect(loads).toBe(1);
    expect(verifier.stats).toMatchObject({ hits: 1, misses: 1 });
    // Each refusal counted against the address.
    const strict = new FailureLimiter({ burst: 6, windowMs: 60_000, maxClients: 10 });
    const guarded = new Verifier(async () => stored(false), cache(), null, strict);
    for (let i = 0; i < 3; i++) {
      guarded.verify({ key: damaged, ip: '198.51.100.1' });
      guarded.verify({ key: 'kg_live_short', ip: '198.51.100.1' });
    }
    expect(guarded.verify({ key: secret, ip: '198.51.100.1' })).toMatchObject({ code: 'TOO_MANY_FAILURES' });
  });

  it("remembers a connection's key only until a change, a loss of trust, or a second", async () => {
    let loads = 0;
    let revoked = false;
    let now = 1_000_000;
    const verifier = new Verifier(
      async (hash) => {
        loads++;
        return { ...stored(revoked), id: `key-${hash.slice(0, 8)}` };
      },
      cache(),
      null,
      null,
      () => now,
    );
    const connection = {};
    const other = generateKey('live').secret;
    expect((await verifier.verify({ key: secret }, undefined, connection)).code).toBe('VALID');
    // From the cache, then from the connection's memo: no load either way.
    for (let i = 0; i < 3; i++)
      expect(verifier.verify({ key: secret }, undefined, connection)).toMatchObject({ code: 'VALID' });
    expect(loads).toBe(1);
    // Another key on the same connection is looked up as itself, never answered from the memo.
    expect((await verifier.verify({ key: other }, undefined, connection)).code).toBe('VALID');
    expect(loads).toBe(2);
    // The key is revoked: the change voids every memo, so the next request on the connection reloads.
    revoked = true;
    verifier.invalidate({ keyIds: [`key-${hashKey(secret).slice(0, 8)}`] });
    const afterChange = verifier.verify({ key: secret }, undefined, connection);
    expect(afterChange).toBeInstanceOf(Promise);
    expect((await afterChange).code).toBe('REVOKED');
    // Trust lost (the feed dropped): nothing from memory, memo included.
    revoked = false;
    verifier.setCacheTrusted(false);
    expect(verifier.verify({ key: secret }, undefined, connection)).toBeInstanceOf(Promise);
    verifier.setCacheTrusted(true);
    const loadsBefore = loads;
    await verifier.verify({ key: secret }, undefined, connection);
    verifier.verify({ key: secret }, undefined, connection);
    // A memo lasts a second; then the cache is asked again (still no load: the key is cached).
    now += 1001;
    expect(verifier.verify({ key: secret }, undefined, connection)).toMatchObject({ code: 'VALID' });
    expect(loads).toBe(loadsBefore + 1);
    // A damaged key of the right length on a remembered connection is still malformed.
    const damaged = `${secret.slice(0, 10)}${secret[10] === 'a' ? 'b' : 'a'}${secret.slice(11)}`;
    expect(verifier.verify({ key: damaged }, undefined, connection)).toEqual({ code: 'MALFORMED' });
  });

  it('shares one load between concurrent verifications of the same key', async () => {
    let loads = 0;
    const verifier = new Verifier(
      async () => {
        loads++;
        return stored(false);
      },
      cache(),
      null,
    );
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => verifier.verify({ key: secret })));
    expect(outcomes.every((o) => o.code === 'VALID')).toBe(true);
    expect(loads).toBe(1);
    expect(verifier.verify({ key: secret })).toMatchObject({ code: 'VALID' });
  });

  it('reads the database every time while its cache is not trusted', async () => {
    let loads = 0;
    const verifier = new Verifier(
      async () => {
        loads++;
        return stored(false);
      },
      cache(),
      null,
    );
    verifier.setCacheTrusted(false);
    await verifier.verify({ key: secret });
    await verifier.verify({ key: secret });
    expect(loads).toBe(2);
    verifier.setCacheTrusted(true);
    await verifier.verify({ key: secret });
    await verifier.verify({ key: secret });
    expect(loads).toBe(3);
  });

  it('refuses malformed keys without loading anything', () => {
    const verifier = new Verifier(
      () => {
        throw new Error('must not load');
      },
      cache(),
      null,
    );
    for (const key of ['', 'kg_live_x', secret.slice(0, -1), 42 as unknown as string]) {
      expect(verifier.verify({ key })).toEqual({ code: 'MALFORMED' });
    }
  });
});
