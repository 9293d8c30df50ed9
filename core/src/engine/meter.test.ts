import { describe, expect, it } from 'vitest';
import type { KeyMeter } from '../index.ts';
import { verifiableKey } from '../testing.ts';
import { IDENTITY, LAPSE_MS, Meter } from './meter.ts';
import type { MeterStore } from './ports.ts';

const key = (meter: KeyMeter) => verifiableKey({ meter });

/** The database's rules (keygate_meter_take) over one key, in memory, with every call recorded. */
function memoryStore(pool: number, limit = 0) {
  const state = { pool, used: 0, epoch: 0, takes: [] as unknown[], givenBack: [] as unknown[], fail: false };
  let release: (() => void) | null = null;
  const store: MeterStore = {
    async take(_id, _now, credits, limits) {
      state.takes.push({ credits, limits });
      if (state.fail) throw new Error('database unavailable');
      await new Promise<void>((resolve) => {
        release = resolve;
        setTimeout(resolve, 5);
      });
      release = null;
      let creditResult = null;
      if (credits) {
        const taken = Math.min(state.pool, Math.max(credits.need, Math.min(credits.want, Math.ceil(state.pool / 8))));
        state.pool -= taken;
        creditResult = { taken, left: state.pool, epoch: state.epoch, validUntil: null };
      }
      const limitResults = limits.map((request) => {
        const room = Math.max(0, limit - state.used);
        const taken = Math.min(room, Math.max(request.need, Math.min(request.want, Math.ceil(room / 4))));
        state.used += taken;
        return { name: request.name, limit, windowMs: 60_000, windowStart: 0, taken, left: room - taken };
      });
      return { credits: creditResult, limits: limitResults };
    },
    async giveBack(credits, windows) {
      state.givenBack.push({ credits, windows });
      for (const c of credits) if (c.epoch === state.epoch) state.pool += c.n;
      for (const w of windows) state.used -= w.n;
    },
  };
  return { state, store, release: () => release?.() };
}

const credits = (epoch = 0): KeyMeter => ({
  credits: { epoch, refillInterval: null, refillDay: null },
  rateLimits: [],
});

describe('Meter', () => {
  it('decides verifications arriving during a reservation together, with one statement', async () => {
    const { state, store } = memoryStore(100);
    const meter = new Meter(store, null, () => 1_000);
    const k = key(credits());
    const pending = Array.from({ length: 20 }, () => meter.check(k, 1, 1_000));
    expect(pending.every((p) => p instanceof Promise)).toBe(true);
    const decided = await Promise.all(pending);
    expect(decided.map((d) => d.code)).toEqual(Array(20).fill('VALID'));
    // One statement decided all twenty; what follows is a top-up taken once they were answered.
    expect(state.takes[0]).toEqual({ credits: { need: 20, want: 20 }, limits: [] });
    expect(state.takes.slice(1)).toEqual([{ credits: { need: 0, want: expect.any(Number) }, limits: [] }]);
  });

  it('takes the next reservation in the background when a quarter is left', async () => {
    const { state, store } = memoryStore(1_000_000);
    let now = 0;
    const meter = new Meter(store, null, () => now);
    const k = key(credits());
    await meter.check(k, 1, now);
    // A pace of 1 per ms: the next reservations aim at a second of it, growing at most 16-fold each.
    for (let i = 0; i < 200; i++) {
      now++;
      const decided = meter.check(k, 1, now);
      if (decided instanceof Promise) await decided;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const waited = state.takes.length;
    expect(waited).toBeGreaterThan(1);
    // From here on no verification waits: each reservation arrives before the last one runs out.
    let blocked = 0;
    for (let i = 0; i < 2_000; i++) {
      now++;
      const decided = meter.check(k, 1, now);
      if (decided instanceof Promise) {
        blocked++;
        await decided;
      }
      // Now and then the event loop turns (as between requests), longer than a reservation takes.
      if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(blocked).toBe(0);
    expect(state.takes.length).toBeLessThan(waited + 10);
  });

  it('gives back what lapsed unused, and everything at stop; a newer epoch voids a reservation', async () => {
    const { state, store } = memoryStore(800, 100);
    let now = 0;
    const meter = new Meter(store, null, () => now);
    const limited: KeyMeter = { ...credits(), rateLimits: [{ name: 'minute', limit: 100, windowMs: 60_000 }] };
    expect((await meter.check(key(limited), 1, now)).code).toBe('VALID');
    // Let the background top-up arrive.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const held = meter.held('k')!;
    expect(held.credits + held.windows.minute!).toBeGreaterThan(0);
    meter.start();
    now = LAPSE_MS + 1;
    await meter.stop();
    expect(state.givenBack).toEqual([
      {
        credits: [{ id: 'k', epoch: 0, n: held.credits }],
        windows: [{ id: 'k', name: 'minute', start: 0, n: held.windows.minute }],
      },
    ]);
    // Exactly what was spent stays spent.
    expect([state.pool, state.used]).toEqual([799, 1]);

    // Credits changed (epoch 1): what was held for epoch 0 is neither spent nor given back.
    const again = new Meter(store, null, () => now);
    await again.check(key(credits()), 1, now);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const before = state.pool;
    const takes = state.takes.length;
    state.epoch = 1;
    const decided = await again.check(key(credits(1)), 1, now);
    expect(decided.code).toBe('VALID');
    // What it held was of epoch 0: it had to reserve anew.
    expect(state.takes[takes]).toMatchObject({ credits: { need: 1 } });
    await again.stop();
    expect(state.pool).toBeLessThan(before);
  });

  it('refuses at once what it knows is short, and fails waiting verifications when the database does', async () => {
    const { state, store } = memoryStore(2);
    const meter = new Meter(store, null, () => 0);
    const k = key(credits());
    expect((await meter.check(k, 2, 0)).code).toBe('VALID');
    const takes = state.takes.length;
    const refused = meter.check(k, 1, 0);
    const settled = refused instanceof Promise ? await refused : refused;
    expect(settled).toMatchObject({ code: 'USAGE_EXCEEDED', creditsRemaining: 0 });
    // Known short: the next refusal is decided in memory.
    expect(meter.check(k, 1, 0)).toMatchObject({ code: 'USAGE_EXCEEDED' });
    expect(state.takes.length).toBeLessThanOrEqual(takes + 1);

    const failing = memoryStore(10);
    failing.state.fail = true;
    const errors: unknown[] = [];
    const broken = new Meter(
      failing.store,
      null,
      () => 0,
      (error) => errors.push(error),
    );
    await expect(broken.check(k, 1, 0)).rejects.toThrow('database unavailable');
    expect(errors).toHaveLength(1);
  });
});

describe('Meter, with an identity’s shared pool', () => {
  /** A key's own pool and its identity's, each with the database's rules. */
  function twoPools(own: number, shared: number) {
    const key = memoryStore(own);
    const identity = memoryStore(shared);
    const store: MeterStore = {
      take: (id, ...rest) => (id.startsWith(IDENTITY) ? identity : key).store.take(id, ...rest),
      async giveBack(credits, windows) {
        const of = (mine: boolean) => (entry: { id: string }) => entry.id.startsWith(IDENTITY) === mine;
        await key.store.giveBack(credits.filter(of(false)), windows.filter(of(false)));
        await identity.store.giveBack(credits.filter(of(true)), windows.filter(of(true)));
      },
    };
    return { key: key.state, identity: identity.state, store };
  }
  const shared = (ownMeter: KeyMeter | null) =>
    verifiableKey({
      id: 'k1',
      meterKeyId: 'k1',
      meter: ownMeter,
      identity: { id: 'i1', externalId: 'cus_1', metadata: null, meter: credits() },
    });

  it('decides concurrent verifications against both pools, all or nothing: the scarcer one decides', async () => {
    const pools = twoPools(1_000, 10);
    const meter = new Meter(pools.store, null, () => 1_000);
    const k = shared(credits());
    const decided = await Promise.all(Array.from({ length: 30 }, () => meter.check(k, 1, 1_000)));
    expect(decided.filter((d) => d.code === 'VALID')).toHaveLength(10);
    expect(decided.filter((d) => d.code === 'USAGE_EXCEEDED')).toHaveLength(20);
    // The least of the two pools is what is left to spend.
    expect(decided.filter((d) => d.code === 'VALID').map((d) => d.creditsRemaining)).toContain(0);
    await meter.stop();
    // The key's own pool gave back all but the 10 spent: a refusal by the identity took nothing of it.
    expect([pools.key.pool, pools.identity.pool]).toEqual([990, 0]);
  });

  it('and the other way round: the key’s own pool running out takes nothing of the identity’s', async () => {
    const pools = twoPools(5, 1_000);
    const meter = new Meter(pools.store, null, () => 1_000);
    const k = shared(credits());
    const decided = [];
    for (let i = 0; i < 8; i++) decided.push((await meter.check(k, 1, 1_000)).code);
    expect(decided).toEqual([...Array(5).fill('VALID'), ...Array(3).fill('USAGE_EXCEEDED')]);
    await meter.stop();
    expect([pools.key.pool, pools.identity.pool]).toEqual([0, 995]);
  });

  it('meters a key with no pool of its own by its identity’s alone', async () => {
    const pools = twoPools(0, 3);
    const meter = new Meter(pools.store, null, () => 1_000);
    const k = shared(null);
    const decided = await Promise.all(Array.from({ length: 5 }, () => meter.check(k, 1, 1_000)));
    expect(decided.map((d) => d.code).sort()).toEqual(['USAGE_EXCEEDED', 'USAGE_EXCEEDED', 'VALID', 'VALID', 'VALID']);
    expect(pools.key.takes).toEqual([]);
  });
});
