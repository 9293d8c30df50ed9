import { describe, expect, it } from 'vitest';
import { generateKey, type VerifiableKey } from '../index.ts';
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
