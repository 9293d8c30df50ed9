// What a verification may require of a key, and what it costs: one parser for
// every place that reads them (GraphQL input, the verifyKey fast path, the
// gateway's auth URL), so the limits are the same everywhere.
import { METERING_BOUNDS } from './metering.ts';
import type { Access } from './verification.ts';

/** A scope: 1-64 letters, digits or _ . : * - , starting with a letter or digit (e.g. payments:write). */
export const SCOPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:*-]{0,63}$/;
export const SCOPE_RULE_TEXT = 'must be 1-64 letters, digits or _ . : * - (e.g. payments:write)';
/** Most scopes a key holds, and most a verification may require. */
export const MAX_SCOPES = 50;
/** Most credits one verification may spend. */
export const MAX_COST = METERING_BOUNDS.maxCost;

export function isScope(value: unknown): value is string {
  return typeof value === 'string' && SCOPE_PATTERN.test(value);
}

/** A list of scopes as a verification requires them; null when any is not a scope or there are too many. */
export function checkScopes(values: readonly unknown[]): string[] | null {
  if (values.length > MAX_SCOPES) return null;
  for (const value of values) if (!isScope(value)) return null;
  return values as string[];
}

/** Scopes written as text: separated by commas and/or spaces ("orders:read, refunds:write"). */
export function parseScopeList(text: string): string[] | null {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (trimmed.length > MAX_SCOPES * 66) return null;
  return checkScopes(trimmed.split(/[\s,]+/).filter(Boolean));
}

export function isCost(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_COST;
}

/** A cost written as text: a whole number from 0 to MAX_COST. */
export function parseCost(text: string): number | null {
  if (!/^\s*\d{1,7}\s*$/.test(text)) return null;
  const value = Number(text);
  return isCost(value) ? value : null;
}

export function parseAccess(text: string): Access | null {
  const value = text.trim().toUpperCase();
  return value === 'READ_ONLY' || value === 'FULL_ACCESS' ? value : null;
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The access an HTTP method needs: GET, HEAD and OPTIONS read, anything else writes. Given
 * several claims of the method (a gateway's own header beside one a client may have added),
 * the strictest wins: an extra header can only raise what a request needs, never lower it.
 */
export function accessForMethods(methods: readonly (string | undefined)[]): Access {
  for (const method of methods) {
    if (method === undefined) continue;
    // One method, as a gateway sends it, is looked up as it is; anything else is split and normalised.
    if (READ_METHODS.has(method)) continue;
    for (const part of method.split(',')) {
      if (!READ_METHODS.has(part.trim().toUpperCase())) return 'FULL_ACCESS';
    }
  }
  return 'READ_ONLY';
}
