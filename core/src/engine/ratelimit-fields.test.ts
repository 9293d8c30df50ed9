import { describe, expect, it } from 'vitest';
import { verifiableKey } from '../testing.ts';
import { small } from './meter.ts';
import { rateLimitEntry, rateLimitTexts } from './ratelimit-fields.ts';

const limits = (names: string[]) => names.map((name, i) => ({ name, limit: 10 * (i + 1), windowMs: 60_000 * (i + 1) }));

describe('RateLimit field texts', () => {
  const key = verifiableKey({
    meter: { credits: null, rateLimits: limits(['per-minute']) },
    identity: { id: 'i', externalId: 'cus_1', metadata: null, meter: { credits: null, rateLimits: limits(['team']) } },
  });

  it("states the key's limits, then its identity's, as quota policies, made once per key object", () => {
    const texts = rateLimitTexts(key);
    expect(texts.policy).toBe('"per-minute";q=10;w=60, "team";q=10;w=60');
    expect(rateLimitTexts(key)).toBe(texts);
    // A changed key is a new object: its texts are made afresh.
    const changed = { ...key, meter: { credits: null, rateLimits: limits(['per-hour']) } };
    expect(rateLimitTexts(changed).policy).toBe('"per-hour";q=10;w=60, "team";q=10;w=60');
  });

  it('tells what remains and the whole seconds to the reset, never below 0', () => {
    const texts = rateLimitTexts(key);
    expect(rateLimitEntry(texts, 0, 'per-minute', 7, 10_500, 1_000)).toBe('"per-minute";r=7;t=10');
    expect(rateLimitEntry(texts, 1, 'team', 0, 1_000, 5_000)).toBe('"team";r=0;t=0');
  });

  it('names the limit it is given when the texts were made for other limits at that place', () => {
    const texts = rateLimitTexts(key);
    expect(rateLimitEntry(texts, 0, 'per-day', 3, 2_000, 1_000)).toBe('"per-day";r=3;t=1');
    expect(rateLimitEntry(texts, 5, 'extra', 1, 2_000, 1_000)).toBe('"extra";r=1;t=1');
  });

  it('writes counts held as doubles the same as integers, and keeps what is no small integer', () => {
    const texts = rateLimitTexts(key);
    // 0.5 + 6.5 and 1e9 (held as doubles) are written as integers; the reset time is rounded up.
    expect(rateLimitEntry(texts, 0, 'per-minute', 0.5 + 6.5, 1_000_000_000 + 0.25, 0)).toBe(
      '"per-minute";r=7;t=1000001',
    );
    expect(small(1e9)).toBe(1_000_000_000);
    expect(small(2.5)).toBe(2.5);
    expect(small(2 ** 31)).toBe(2 ** 31);
    expect(small(-3)).toBe(-3);
    expect(Number.isNaN(small(Number.NaN))).toBe(true);
    expect(small(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
  });
});
