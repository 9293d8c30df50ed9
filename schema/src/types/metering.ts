// Credits and rate limits as the API shows and takes them: a key's own, and an identity's shared ones.

import { type CreditsView, METERING_BOUNDS } from '@keygate/core';
import { builder } from '../builder.ts';

export const RefillInterval = builder.enumType('RefillInterval', {
  values: {
    DAILY: { description: 'Every day at 00:00 UTC' },
    MONTHLY: { description: 'Every month at 00:00 UTC of refillDay (the last day of shorter months)' },
  },
});

const { maxCredits, maxLimit, maxWindowSeconds } = METERING_BOUNDS;

export const CreditsInput = builder.inputType('CreditsInput', {
  description: 'Usage credits: each successful verification spends its cost; at 0 the answer is USAGE_EXCEEDED',
  fields: (t) => ({
    remaining: t.int({ required: true, description: `Credits to start with: 0 to ${maxCredits}` }),
    refillAmount: t.int({
      description: `Credits the key is set back to at each refill: 1 to ${maxCredits} (with refillInterval)`,
    }),
    refillInterval: t.field({ type: RefillInterval, description: 'How often to refill (with refillAmount)' }),
    refillDay: t.int({ description: 'MONTHLY refills: the day of the month, 1-31 (default 1)' }),
  }),
});

export const RateLimitInput = builder.inputType('RateLimitInput', {
  description: 'A rate limit: at most `limit` verifications per fixed window of `windowSeconds` (aligned to UTC)',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Unique per key: 1-64 letters, digits or _ . : -' }),
    limit: t.int({ required: true, description: `1 to ${maxLimit}` }),
    windowSeconds: t.int({ required: true, description: `1 to ${maxWindowSeconds} (30 days)` }),
  }),
});

export const Credits = builder.objectRef<CreditsView>('Credits').implement({
  fields: (t) => ({
    remaining: t.exposeInt('remaining', {
      description: 'Credits not yet spent (spending on the verification path is written every KEYGATE_USAGE_FLUSH_MS)',
    }),
    refillAmount: t.exposeInt('refillAmount', { nullable: true }),
    refillInterval: t.expose('refillInterval', { type: RefillInterval, nullable: true }),
    refillDay: t.exposeInt('refillDay', { nullable: true }),
    refilledAt: t.expose('refilledAt', { type: 'DateTime', nullable: true, description: 'The latest refill' }),
    nextRefillAt: t.expose('nextRefillAt', { type: 'DateTime', nullable: true }),
  }),
});

export const RateLimit = builder
  .objectRef<{ name: string; limit: number; windowSeconds: number }>('RateLimit')
  .implement({
    fields: (t) => ({
      name: t.exposeString('name'),
      limit: t.exposeInt('limit'),
      windowSeconds: t.exposeInt('windowSeconds'),
    }),
  });
