// Brute-force protection: each client address may guess wrong (MALFORMED or
// NOT_FOUND) only so often. A token bucket per address: `burst` failures at
// once, refilled at burst/window. While an address has no tokens left, all of
// its verifications are refused with TOO_MANY_FAILURES, so guessing learns nothing.
// IPv6 addresses count per /64, the block one client usually holds.
// In memory, per instance: with N instances a client may fail up to N times as often.

import { LRUCache } from 'lru-cache';
import { parseIp } from '../index.ts';

export interface FailureLimits {
  /** Failures allowed at once (0 turns the limiter off). */
  burst: number;
  /** Time for a full refill, in milliseconds. */
  windowMs: number;
  /** Most addresses tracked; the oldest are forgotten first. */
  maxClients: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class FailureLimiter {
  /** The addresses that failed most recently; the one quiet the longest is forgotten first. */
  private readonly buckets: LRUCache<string, Bucket>;
  private readonly refillPerMs: number;

  constructor(private readonly limits: FailureLimits) {
    this.refillPerMs = limits.burst / limits.windowMs;
    this.buckets = new LRUCache({ max: Math.max(1, limits.maxClients) });
  }

  /** Milliseconds until this client may verify again, or 0 when it may now. */
  blockedFor(ip: string | null | undefined, now: number): number {
    if (!ip || this.limits.burst === 0 || this.buckets.size === 0) return 0;
    // A look, not a use: only failures keep an address among the remembered.
    const bucket = this.buckets.peek(clientKey(ip));
    if (!bucket) return 0;
    const tokens = Math.min(this.limits.burst, bucket.tokens + (now - bucket.updatedAt) * this.refillPerMs);
    return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / this.refillPerMs);
  }

  /** Takes a token for a failed verification. */
  fail(ip: string | null | undefined, now: number): void {
    if (!ip || this.limits.burst === 0) return;
    const key = clientKey(ip);
    const bucket = this.buckets.get(key);
    const tokens = bucket
      ? Math.min(this.limits.burst, bucket.tokens + (now - bucket.updatedAt) * this.refillPerMs)
      : this.limits.burst;
    this.buckets.set(key, { tokens: Math.max(0, tokens - 1), updatedAt: now });
  }
}

/** The address itself for IPv4; the /64 network for IPv6. */
function clientKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  const parsed = parseIp(ip);
  if (parsed?.kind() !== 'ipv6') return ip;
  return `${(parsed.toNormalizedString() as string).split(':').slice(0, 4).join(':')}::/64`;
}
