import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { generateKey, hashKey, KEY_LENGTH, parseKey } from './api-key.ts';
import { BASE62, encodeBase62, randomBase62 } from './base62.ts';

describe('generateKey', () => {
  it('makes kg_<env>_<22 random><6 checksum> keys with a visible prefix and a sha256 hash', () => {
    const live = generateKey('live');
    expect(live.secret).toMatch(/^kg_live_[0-9A-Za-z]{28}$/);
    expect(live.secret).toHaveLength(KEY_LENGTH);
    expect(live.prefix).toBe(live.secret.slice(0, 12));
    expect(live.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(live.hash).toBe(hashKey(live.secret));
    expect(generateKey('test').secret).toMatch(/^kg_test_/);
  });

  it('draws the random part uniformly from all 62 characters', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      for (const char of generateKey('live').secret.slice(8, 30)) counts.set(char, (counts.get(char) ?? 0) + 1);
    }
    expect(counts.size).toBe(62);
    const expected = (2000 * 22) / 62;
    for (const count of counts.values()) expect(Math.abs(count - expected) / expected).toBeLessThan(0.25);
  });

  it('never repeats', () => {
    const secrets = new Set(Array.from({ length: 10_000 }, () => generateKey('live').secret));
    expect(secrets.size).toBe(10_000);
  });
});

describe('parseKey', () => {
  const { secret } = generateKey('live');

  it('accepts a generated key', () => {
    expect(parseKey(secret)).toEqual({ environment: 'live', secret });
  });

  it('rejects every single-character typo through the checksum', () => {
    for (let i = 8; i < secret.length; i++) {
      const replacement = secret[i] === 'a' ? 'b' : 'a';
      expect(parseKey(secret.slice(0, i) + replacement + secret.slice(i + 1))).toBeNull();
    }
  });

  it.each([
    ['empty', ''],
    ['too short', secret.slice(0, -1)],
    ['too long', `${secret}a`],
    ['huge', 'k'.repeat(1_000_000)],
    ['wrong prefix', secret.replace('kg_live_', 'kg_prod_')],
    ['other vendor', secret.replace('kg_', 'sk_')],
    ['non-ASCII', `${secret.slice(0, -1)}é`],
    ['white space', ` ${secret.slice(1)}`],
    ['swapped characters', secret.slice(0, 10) + secret[11] + secret[10] + secret.slice(12)],
  ])('rejects %s', (_name, candidate) => {
    if (candidate !== secret) expect(parseKey(candidate)).toBeNull();
  });
});

describe('building blocks', () => {
  it('crc32 matches the IEEE reference value', () => {
    expect(crc32('123456789')).toBe(0xcbf43926);
    expect(crc32('')).toBe(0);
  });

  it('encodeBase62 gives the same for a number as for its BigInt', () => {
    for (const value of [0, 1, 61, 62, 3843, 2 ** 31, 2 ** 32 - 1, Number.MAX_SAFE_INTEGER]) {
      expect(encodeBase62(value, 6)).toBe(encodeBase62(BigInt(value), 6));
    }
    expect(() => encodeBase62(-1, 6)).toThrow(RangeError);
  });

  it('encodeBase62 pads to width and round-trips', () => {
    expect(encodeBase62(0n, 6)).toBe('000000');
    expect(encodeBase62(61n, 2)).toBe('0z');
    expect(encodeBase62(62n, 2)).toBe('10');
    expect(encodeBase62(0xffffffffn, 6)).toHaveLength(6);
  });

  it('randomBase62 rejects bytes that would bias the alphabet', () => {
    // 255 is at or above 248 and must be skipped; 0 and 61 map to the ends of the alphabet.
    let call = 0;
    const feed = (size: number) => new Uint8Array(size).fill(call++ === 0 ? 255 : 61);
    expect(randomBase62(3, feed)).toBe(BASE62[61]!.repeat(3));
  });
});
