// Metering: what a key may consume (usage credits, refilled on a schedule) and
// how fast (named rate limits). The arithmetic of periods and windows lives here;
// the database applies the same rules when it hands out reservations (see the
// keygate_refill_due SQL function, which a test holds equal to refillDue).

export type RefillInterval = 'DAILY' | 'MONTHLY';

/** Bounds of what a key may be given (documented in docs/metering.md). */
export const METERING_BOUNDS = {
  /** Most credits a key may hold, and most a refill may grant. */
  maxCredits: 1_000_000_000,
  /** Largest cost of one verification. */
  maxCost: 1_000_000,
  /** Most rate limits per key. */
  maxRateLimits: 10,
  /** Largest limit of one rate limit. */
  maxLimit: 1_000_000_000,
  /** Longest window: 30 days. */
  maxWindowSeconds: 2_592_000,
} as const;

export interface CreditsConfig {
  /** Bumped by every refill and every change to the credits: reservations of an older epoch are void. */
  epoch: number;
  refillInterval: RefillInterval | null;
  /** For MONTHLY: the day of the month (1–31; in shorter months, their last day). */
  refillDay: number | null;
}

export interface RateLimitConfig {
  name: string;
  limit: number;
  windowMs: number;
}

/** The metering of one key, as cached for verification; null on a key that is not metered. */
export interface KeyMeter {
  credits: CreditsConfig | null;
  rateLimits: readonly RateLimitConfig[];
}

/** One rate limit's state after a verification. */
export interface RateLimitState {
  name: string;
  limit: number;
  /** What is left in the current window (as far as this instance knows: never more than the truth). */
  remaining: number;
  /** When the current window ends (ms since the epoch). */
  resetAt: number;
  /** This limit refused the verification. */
  exceeded: boolean;
}

const DAY_MS = 86_400_000;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/** The refill boundary of a month: its `day`, or its last day when shorter. */
function monthBoundary(year: number, month: number, day: number): number {
  return Date.UTC(year, month, Math.min(day, daysInMonth(year, month)));
}

/** The latest refill boundary at or before `at` (ms): UTC midnight, or that of the month's refill day. */
export function refillDue(interval: RefillInterval, day: number | null, at: number): number {
  if (interval === 'DAILY') return Math.floor(at / DAY_MS) * DAY_MS;
  const date = new Date(at);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  const thisMonth = monthBoundary(year, month, day ?? 1);
  return thisMonth <= at ? thisMonth : monthBoundary(year, month - 1, day ?? 1);
}

/** The first refill boundary after `at`. */
export function nextRefill(interval: RefillInterval, day: number | null, at: number): number {
  const due = refillDue(interval, day, at);
  if (interval === 'DAILY') return due + DAY_MS;
  const date = new Date(due);
  return monthBoundary(date.getUTCFullYear(), date.getUTCMonth() + 1, day ?? 1);
}

/** The start of the fixed window that `at` falls in; windows are aligned to the Unix epoch. */
export function windowStart(windowMs: number, at: number): number {
  return Math.floor(at / windowMs) * windowMs;
}

/** A key's credits as a merchant sees them. */
export interface CreditsView {
  remaining: number;
  refillAmount: number | null;
  refillInterval: RefillInterval | null;
  refillDay: number | null;
  refilledAt: Date | null;
  nextRefillAt: Date | null;
}

/** What is stored of a key's credits (its row), reserved credits included. */
export interface StoredCredits {
  creditsRemaining: number | null;
  creditsReserved: number;
  refillAmount: number | null;
  refillInterval: RefillInterval | null;
  refillDay: number | null;
  refilledAt: Date | null;
}

/**
 * A key's credits as of `now`: what instances hold in reservation counts as not spent yet, and a
 * refill that is due counts as applied (the database applies it lazily, at the next reservation).
 */
export function creditsView(key: StoredCredits, now: number): CreditsView | null {
  if (key.creditsRemaining === null) return null;
  const interval = key.refillInterval;
  let remaining = key.creditsRemaining + key.creditsReserved;
  let refilledAt = key.refilledAt;
  if (interval !== null) {
    const due = refillDue(interval, key.refillDay, now);
    if (refilledAt === null || refilledAt.getTime() < due) {
      remaining = key.refillAmount ?? 0;
      refilledAt = new Date(due);
    }
  }
  return {
    remaining,
    refillAmount: key.refillAmount,
    refillInterval: interval,
    refillDay: key.refillDay,
    refilledAt,
    nextRefillAt: interval === null ? null : new Date(nextRefill(interval, key.refillDay, now)),
  };
}
