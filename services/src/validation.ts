// Input rules shared by the mutations. Each failure names the offending field.

import {
  describePermissionError,
  MAX_SCOPES,
  METERING_BOUNDS,
  parseCidr,
  parsePermissions,
  SCOPE_PATTERN,
  SCOPE_RULE_TEXT,
} from '@keygate/core';
import { z } from 'zod';

// Control characters (including newlines) make labels ambiguous in lists and logs.
const noControlChars = (value: string) => !/\p{Cc}/u.test(value);
// A lone UTF-16 surrogate is no character at all: stored, it would be changed or refused by the
// database (jsonb refuses its escape), so it is the input's error, named on its field.
const wellFormed = (value: string) => !/\p{Cs}/u.test(value);
export const WELL_FORMED = 'must be valid Unicode text (it holds a lone UTF-16 surrogate)';

export const nameRule = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine(wellFormed, WELL_FORMED)
    .refine(noControlChars, 'must not contain control characters');

export const descriptionRule = z
  .string()
  .trim()
  .max(500, 'must be at most 500 characters')
  .refine(wellFormed, WELL_FORMED)
  .refine(noControlChars, 'must not contain control characters')
  .transform((value) => (value === '' ? null : value));

export const websiteUrlRule = z
  .string()
  .trim()
  .max(2048, 'must be at most 2048 characters')
  .refine(wellFormed, WELL_FORMED)
  // The URL parser tolerates some (a NUL in the path); the database does not, and nor should a link.
  .refine(noControlChars, 'must not contain control characters')
  .refine((value) => {
    if (value === '') return true;
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL')
  .transform((value) => (value === '' ? null : value));

export const scopesRule = z
  .array(z.string().regex(SCOPE_PATTERN, SCOPE_RULE_TEXT))
  .max(MAX_SCOPES, `at most ${MAX_SCOPES} scopes`)
  .transform((scopes) => [...new Set(scopes)]);

/** A permission expression (core's parsePermissions); the message names the position of a problem. */
export const permissionsRule = z.string().superRefine((value, ctx) => {
  const parsed = parsePermissions(value);
  if (!parsed.ok)
    ctx.addIssue({ code: 'custom', message: `BAD_REQUIREMENTS: ${describePermissionError(parsed.error)}` });
});

export const futureDateRule = z.date().refine((date) => date.getTime() > Date.now(), 'must be in the future');

export const cidrRule = z.string().transform((value, ctx) => {
  const parsed = parseCidr(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  }
  return parsed.value.cidr;
});

const { maxCredits, maxCost, maxLimit, maxRateLimits, maxWindowSeconds } = METERING_BOUNDS;
const whole = (min: number, max: number) =>
  z.number().int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

export const costRule = whole(0, maxCost);

export const creditsRule = z
  .object({
    remaining: whole(0, maxCredits),
    refillAmount: whole(1, maxCredits).nullish(),
    refillInterval: z.enum(['DAILY', 'MONTHLY']).nullish(),
    refillDay: whole(1, 31).nullish(),
  })
  .superRefine((credits, ctx) => {
    const amount = credits.refillAmount != null;
    const interval = credits.refillInterval != null;
    if (amount && !interval) {
      ctx.addIssue({ code: 'custom', path: ['refillInterval'], message: 'is required with refillAmount' });
    }
    if (interval && !amount) {
      ctx.addIssue({ code: 'custom', path: ['refillAmount'], message: 'is required with refillInterval' });
    }
    if (credits.refillDay != null && credits.refillInterval !== 'MONTHLY') {
      ctx.addIssue({ code: 'custom', path: ['refillDay'], message: 'applies to MONTHLY refills only' });
    }
  });

export const RATE_LIMIT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

export const rateLimitsRule = z
  .array(
    z.object({
      name: z.string().regex(RATE_LIMIT_NAME, 'must be 1-64 letters, digits or _ . : - (e.g. per-second)'),
      limit: whole(1, maxLimit),
      windowSeconds: whole(1, maxWindowSeconds),
    }),
  )
  .max(maxRateLimits, `at most ${maxRateLimits} rate limits per key`)
  .superRefine((limits, ctx) => {
    const seen = new Set<string>();
    limits.forEach((limit, index) => {
      const folded = limit.name.toLowerCase();
      if (seen.has(folded)) ctx.addIssue({ code: 'custom', path: [index, 'name'], message: 'is used twice' });
      seen.add(folded);
    });
  });

export const METADATA_MAX_BYTES = 4096;
export const METADATA_MAX_DEPTH = 5;
/** Something shaped like a Keygate secret: never stored in metadata, where it would be shown. */
const SECRET_LIKE = /kg_(live|test)_[A-Za-z0-9]{16,}/;

/** A JSON object of at most 4 KiB serialised and depth 5, with nothing that looks like a key. */
export const metadataRule = z.unknown().superRefine((value, ctx) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
    return;
  }
  const size = Buffer.byteLength(JSON.stringify(value));
  if (size > METADATA_MAX_BYTES) {
    ctx.addIssue({ code: 'custom', message: `must be at most ${METADATA_MAX_BYTES} bytes as JSON (is ${size})` });
    return;
  }
  const walk = (node: unknown, path: (string | number)[], depth: number): void => {
    if (typeof node === 'string') {
      if (!wellFormed(node)) ctx.addIssue({ code: 'custom', path, message: WELL_FORMED });
      if (SECRET_LIKE.test(node)) ctx.addIssue({ code: 'custom', path, message: 'must not hold a Keygate key' });
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    if (depth > METADATA_MAX_DEPTH) {
      ctx.addIssue({ code: 'custom', path, message: `nests deeper than ${METADATA_MAX_DEPTH} levels` });
      return;
    }
    for (const [key, child] of Object.entries(node)) {
      if (!wellFormed(key)) ctx.addIssue({ code: 'custom', path: [...path, key], message: WELL_FORMED });
      if (SECRET_LIKE.test(key))
        ctx.addIssue({ code: 'custom', path: [...path, key], message: 'must not hold a Keygate key' });
      walk(child, [...path, Array.isArray(node) ? Number(key) : key], depth + 1);
    }
  };
  walk(value, [], 1);
});

export const externalIdRule = z
  .string()
  .trim()
  .max(255, 'must be at most 255 characters')
  .refine(wellFormed, WELL_FORMED)
  .refine(noControlChars, 'must not contain control characters')
  .transform((value) => (value === '' ? null : value));

/** An identity's own id in the merchant's system: required, 1-255 characters. */
export const identityExternalIdRule = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .refine(wellFormed, WELL_FORMED)
  .refine(noControlChars, 'must not contain control characters');

export const MAX_GRACE_SECONDS = 7 * 86_400;
export const gracePeriodRule = whole(0, MAX_GRACE_SECONDS);

/** The longest lifetime a key policy may set or require: ten years. */
export const MAX_POLICY_LIFETIME_DAYS = 3650;
/** The most scopes a policy's allowed list may hold. */
export const MAX_POLICY_SCOPES = 100;

/**
 * A key policy (core's KeyPolicy), from setPolicy's input or the operator's
 * KEYGATE_DEFAULT_KEY_POLICY. Absent and null alike mean "no such rule".
 */
export const keyPolicyRule = z
  .object({
    maxLifetimeDays: z
      .object({
        live: whole(1, MAX_POLICY_LIFETIME_DAYS).nullish(),
        test: whole(1, MAX_POLICY_LIFETIME_DAYS).nullish(),
      })
      .strict()
      .nullish(),
    fullAccessRequiresIpRules: z.boolean().nullish(),
    noWildcardScopesInLive: z.boolean().nullish(),
    allowedScopes: z
      .array(z.string().regex(SCOPE_PATTERN, SCOPE_RULE_TEXT))
      .max(MAX_POLICY_SCOPES, `at most ${MAX_POLICY_SCOPES} scopes`)
      .transform((scopes) => [...new Set(scopes)])
      .nullish(),
    maxGracePeriodSeconds: gracePeriodRule.nullish(),
  })
  .strict();
