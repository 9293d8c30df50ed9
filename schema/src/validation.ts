// Input rules shared by the mutations. Each failure names the offending field.

import { parseCidr } from '@keygate/core';
import { z } from 'zod';

// Control characters (including newlines) make labels ambiguous in lists and logs.
const noControlChars = (value: string) => !/\p{Cc}/u.test(value);

export const nameRule = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine(noControlChars, 'must not contain control characters');

export const descriptionRule = z
  .string()
  .trim()
  .max(500, 'must be at most 500 characters')
  .refine(noControlChars, 'must not contain control characters')
  .transform((value) => (value === '' ? null : value));

export const websiteUrlRule = z
  .string()
  .trim()
  .max(2048, 'must be at most 2048 characters')
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

export const SCOPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:*-]{0,63}$/;

export const scopesRule = z
  .array(z.string().regex(SCOPE_PATTERN, 'must be 1-64 letters, digits or _ . : * - (e.g. payments:write)'))
  .max(50, 'at most 50 scopes')
  .transform((scopes) => [...new Set(scopes)]);

export const futureDateRule = z.date().refine((date) => date.getTime() > Date.now(), 'must be in the future');

export const cidrRule = z.string().transform((value, ctx) => {
  const parsed = parseCidr(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  }
  return parsed.value.cidr;
});
