// What every framework adapter shares: where the key is read from, which access a route needs,
// and how a refusal is answered — as Keygate's /v1/auth answers it (status, X-Keygate-Code,
// Retry-After, the IETF RateLimit fields, a small JSON body).
import { VERIFY_STATUS } from '@keygate/core';
import { rateLimitEntry } from '@keygate/core/engine';
import { rateLimitResets, rateLimitTextsOf } from './embedded.ts';
import { checkedPermissions } from './requirements.ts';
import type { Access, KeyVerification, VerifyCode, VerifyInput } from './types.ts';

export interface RouteRequirements {
  /** FULL_ACCESS, READ_ONLY, or (default) by the method: GET, HEAD and OPTIONS read, anything else writes. */
  access?: Access | 'BY_METHOD';
  /** Scopes the key must cover. */
  scopes?: readonly string[];
  /** A permission expression the key's scopes must satisfy: "orders.read AND (refunds.write OR admin)". */
  permissions?: string;
  /** Credits a request spends on a key with credits (default 1). */
  cost?: number;
}

/** What every adapter takes besides the route's requirements. */
export interface AdapterOptions extends RouteRequirements {
  /**
   * A metered key's RateLimit fields and X-Keygate-Credits-Remaining on allowed requests: 'always'
   * (the default, as /v1/auth answers) or only on refusals ('refusals'), e.g. when clients should
   * not see their credit balance. Refusals always carry them.
   */
  meteringHeaders?: 'always' | 'refusals';
}

/** The adapter's options, checked once when the middleware is made. */
export function adapterOptions<T extends AdapterOptions>(options: T, adapter: string): T {
  if (options === null || typeof options !== 'object') throw new TypeError(`${adapter}: options must be an object`);
  const headers = options.meteringHeaders;
  if (headers !== undefined && headers !== 'always' && headers !== 'refusals') {
    throw new TypeError(`${adapter}: meteringHeaders must be 'always' or 'refusals', not ${JSON.stringify(headers)}`);
  }
  // A malformed expression fails when the route is set up, not on its first request.
  if (options.permissions !== undefined) checkedPermissions(options.permissions, `${adapter}: permissions`);
  return options;
}

/** Whether an allowed request's answer gets metering headers under these options. */
export const headersOnSuccess = (options: AdapterOptions): boolean => options.meteringHeaders !== 'refusals';

/** /v1/auth's statuses, and 503 when Keygate could not be asked. */
export const STATUS: Record<VerifyCode, number> = { ...VERIFY_STATUS, UNAVAILABLE: 503 };

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The presented key: Authorization: Bearer|ApiKey <key>, else X-Api-Key; as /v1/auth reads it. */
export function presentedKey(
  authorization: string | undefined | null,
  apiKey: string | undefined | null,
): string | null {
  if (authorization) {
    const space = authorization.indexOf(' ');
    const scheme = authorization.slice(0, space).toLowerCase();
    if (space > 0 && (scheme === 'bearer' || scheme === 'apikey')) return authorization.slice(space + 1).trim() || null;
  }
  return typeof apiKey === 'string' && apiKey.trim() !== '' ? apiKey.trim() : null;
}

/**
 * The presented key from Node's raw header list, without making Node build `req.headers` (which
 * it does lazily, at a cost per request). The first Authorization counts; X-Api-Key otherwise.
 */
export function keyFromRawHeaders(raw: readonly string[]): string | null {
  let authorization: string | undefined;
  let apiKey: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && authorization === undefined && name.toLowerCase() === 'authorization') {
      authorization = raw[i + 1];
    } else if (name.length === 9 && apiKey === undefined && name.toLowerCase() === 'x-api-key') apiKey = raw[i + 1];
  }
  return presentedKey(authorization, apiKey);
}

export function verifyInput(
  key: string,
  method: string,
  ip: string | null | undefined,
  route: RouteRequirements,
): VerifyInput {
  const access = route.access === undefined || route.access === 'BY_METHOD' ? byMethod(method) : route.access;
  return {
    key,
    ip: ip ?? null,
    requiredAccess: access,
    requiredScopes: route.scopes ?? null,
    requiredPermissions: route.permissions ?? null,
    cost: route.cost ?? null,
  };
}

function byMethod(method: string): Access {
  // node:http gives the common methods in capitals: those are answered without making a new string.
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return 'READ_ONLY';
  return READ_METHODS.has(method.toUpperCase()) ? 'READ_ONLY' : 'FULL_ACCESS';
}

/** Header fields for an answer: metering state always, and for refusals the code and retry time. */
export function answerHeaders(result: KeyVerification): Record<string, string> {
  const fields = answerFields(result);
  const headers: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) headers[fields[i]!] = fields[i + 1]!;
  return headers;
}

/** answerHeaders as a flat list of names and values, the form node:http's writeHead takes fastest. */
export function answerFields(result: KeyVerification): string[] {
  const limits = result.rateLimits;
  const credits = result.creditsRemaining;
  if (result.valid) {
    // An allowed answer (the common one) in one list made whole, without pushes that grow it.
    if (limits === null || limits.length === 0) {
      return credits === null ? [] : ['x-keygate-credits-remaining', String(credits)];
    }
    const policy = rateLimitPolicy(result, limits);
    const state = rateLimitState(result, limits);
    return credits === null
      ? ['ratelimit-policy', policy, 'ratelimit', state]
      : ['ratelimit-policy', policy, 'ratelimit', state, 'x-keygate-credits-remaining', String(credits)];
  }
  const fields: string[] = ['x-keygate-code', result.code, 'cache-control', 'no-store'];
  if (STATUS[result.code] === 401) fields.push('www-authenticate', 'ApiKey');
  if (result.retryAfterSeconds !== null) fields.push('retry-after', String(result.retryAfterSeconds));
  if (limits !== null && limits.length > 0) {
    fields.push('ratelimit-policy', rateLimitPolicy(result, limits), 'ratelimit', rateLimitState(result, limits));
    for (const limit of limits) {
      if (limit.exceeded) {
        fields.push('x-keygate-rate-limit', limit.name);
        break;
      }
    }
  }
  if (credits !== null) fields.push('x-keygate-credits-remaining', String(credits));
  return fields;
}

type Limits = NonNullable<KeyVerification['rateLimits']>;

/** RateLimit-Policy: the verifier's own result carries its key's text; any other has no window sizes to tell. */
function rateLimitPolicy(result: KeyVerification, limits: Limits): string {
  return rateLimitTextsOf(result)?.policy ?? limits.map((l) => `"${l.name}";q=${l.limit}`).join(', ');
}

/**
 * RateLimit's value, made flat (by join): node:http checks every field value with a regular
 * expression, which takes a concatenated (cons) string only through V8's slower runtime path,
 * flattening it there first (seen under `perf` in a serving API).
 */
function rateLimitState(result: KeyVerification, limits: Limits): string {
  const now = Date.now();
  const resets = rateLimitResets(result);
  const texts = rateLimitTextsOf(result) ?? NO_TEXTS;
  const entries = new Array<string>(limits.length);
  for (let i = 0; i < limits.length; i++) {
    const l = limits[i]!;
    entries[i] = rateLimitEntry(texts, i, l.name, l.remaining, resets?.[i] ?? Date.parse(l.resetAt), now);
  }
  return entries.join(', ');
}

const NO_TEXTS = { policy: '', names: [], prefixes: [] };

/** The body of a refusal, as /v1/auth sends it. */
export function refusalBody(result: KeyVerification): { valid: false; code: VerifyCode } {
  return { valid: false, code: result.code };
}
