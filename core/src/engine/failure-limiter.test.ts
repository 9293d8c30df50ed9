import { describe, expect, it } from 'vitest';
import { FailureLimiter } from './failure-limiter.ts';

describe('FailureLimiter', () => {
  const limiter = () => new FailureLimiter({ burst: 3, windowMs: 3000, maxClients: 100 });

  it('blocks an address after its burst of failures, until a token has refilled', () => {
    const l = limiter();
    for (let i = 0; i < 3; i++) {
      expect(l.blockedFor('198.51.100.1', 0)).toBe(0);
      l.fail('198.51.100.1', 0);
    }
    expect(l.blockedFor('198.51.100.1', 0)).toBe(1000);
    expect(l.blockedFor('198.51.100.1', 600)).toBe(400);
    expect(l.blockedFor('198.51.100.1', 1000)).toBe(0);
    expect(l.blockedFor('198.51.100.2', 0)).toBe(0);
  });

  it('counts IPv6 clients per /64', () => {
    const l = limiter();
    for (let i = 1; i <= 3; i++) l.fail(`2001:db8:1:2::${i}`, 0);
    expect(l.blockedFor('2001:db8:1:2:ffff::9', 0)).toBeGreaterThan(0);
    expect(l.blockedFor('2001:db8:1:3::1', 0)).toBe(0);
  });

  it('forgets the oldest addresses beyond its size, and does nothing when turned off or without an address', () => {
    const l = new FailureLimiter({ burst: 1, windowMs: 60_000, maxClients: 2 });
    l.fail('10.0.0.1', 0);
    l.fail('10.0.0.2', 0);
    l.fail('10.0.0.3', 0);
    expect(l.blockedFor('10.0.0.1', 0)).toBe(0);
    expect(l.blockedFor('10.0.0.3', 0)).toBeGreaterThan(0);
    const off = new FailureLimiter({ burst: 0, windowMs: 60_000, maxClients: 2 });
    off.fail('10.0.0.1', 0);
    expect(off.blockedFor('10.0.0.1', 0)).toBe(0);
    l.fail(null, 0);
    expect(l.blockedFor(null, 0)).toBe(0);
  });
});
