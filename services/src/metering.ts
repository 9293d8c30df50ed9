// The columns of credits and rate limits, shared by keys and identities (both are metered pools).
import { type RefillInterval, refillDue } from '@keygate/core';

export interface CreditsInput {
  remaining: number;
  refillAmount?: number | null;
  refillInterval?: RefillInterval | null;
  refillDay?: number | null;
}

export interface RateLimitInput {
  name: string;
  limit: number;
  windowSeconds: number;
}

/**
 * The columns of a key's credits, set anew: no reservation of before counts (the caller bumps the
 * epoch on a change), and a refill schedule starts from the current period (no refill at once).
 */
export function creditsData(credits: CreditsInput | null, now: number) {
  const interval = credits?.refillInterval ?? null;
  const day = interval === 'MONTHLY' ? (credits?.refillDay ?? 1) : null;
  return {
    creditsRemaining: credits?.remaining ?? null,
    creditsReserved: 0,
    refillAmount: interval ? (credits?.refillAmount ?? null) : null,
    refillInterval: interval,
    refillDay: day,
    refilledAt: interval ? new Date(refillDue(interval, day, now)) : null,
  };
}

export const rateLimitsData = (limits: readonly RateLimitInput[] | null) =>
  (limits ?? []).map(({ name, limit, windowSeconds }) => ({ name, limit, windowSeconds }));
