// Forward authentication for gateways (nginx auth_request, Traefik
// ForwardAuth, Envoy ext_authz): one HTTP request in, a status and identity
// headers out. Plain node:http, no GraphQL on this path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type Access,
  globalId,
  type KeyVerifier,
  METERING_BOUNDS,
  type VerifiableKey,
  type VerifyCode,
  type VerifyOutcome,
} from '@keygate/core';
import { context } from '@opentelemetry/api';
import { forwardAuthContext, tracing } from '../tracing.ts';
import { clientIp, type TrustedProxies } from './client-ip.ts';

const STATUS: Record<VerifyCode, number> = {
  VALID: 200,
  MALFORMED: 401,
  NOT_FOUND: 401,
  REVOKED: 401,
  KEY_DISABLED: 401,
  EXPIRED: 401,
  APPLICATION_DISABLED: 401,
  IP_DENIED: 403,
  INSUFFICIENT_ACCESS: 403,
  INSUFFICIENT_SCOPE: 403,
  USAGE_EXCEEDED: 429,
  RATE_LIMITED: 429,
  TOO_MANY_FAILURES: 429,
};

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const SCOPE_LIST = /^[A-Za-z0-9_.:*\- ,]{0,2048}$/;

/** The presented key: Authorization: Bearer|ApiKey <key>, else X-Api-Key. */
export function presentedKey(req: IncomingMessage): string | null {
  const authorization = req.headers.authorization;
  if (authorization) {
    const space = authorization.indexOf(' ');
    const scheme = authorization.slice(0, space).toLowerCase();
    if (space > 0 && (scheme === 'bearer' || scheme === 'apikey')) return authorization.slice(space + 1).trim();
  }
  const header = req.headers['x-api-key'];
  return typeof header === 'string' ? header.trim() : null;
}

/** What the request needs: an explicit header, else inferred from the original method. */
function requiredAccess(req: IncomingMessage): Access | 'INVALID' {
  const explicit = req.headers['x-keygate-required-access'];
  if (typeof explicit === 'string') {
    const value = explicit.trim().toUpperCase();
    return value === 'READ_ONLY' || value === 'FULL_ACCESS' ? value : 'INVALID';
  }
  const original = req.headers['x-original-method'] ?? req.headers['x-forwarded-method'] ?? req.method ?? 'GET';
  return READ_METHODS.has(String(original).toUpperCase()) ? 'READ_ONLY' : 'FULL_ACCESS';
}

function requiredScopes(req: IncomingMessage): string[] | 'INVALID' {
  const header = req.headers['x-keygate-required-scopes'];
  if (typeof header !== 'string' || header.trim() === '') return [];
  if (!SCOPE_LIST.test(header)) return 'INVALID';
  return header.split(/[\s,]+/).filter(Boolean);
}

/** X-Keygate-Cost: the credits this request spends (default 1). */
function cost(req: IncomingMessage): number | 'INVALID' {
  const header = req.headers['x-keygate-cost'];
  if (header === undefined) return 1;
  if (typeof header !== 'string' || !/^\s*\d{1,7}\s*$/.test(header)) return 'INVALID';
  const value = Number(header);
  return value <= METERING_BOUNDS.maxCost ? value : 'INVALID';
}

export function createForwardAuthHandler(
  verifier: KeyVerifier,
  proxies: TrustedProxies,
  clock: () => number = Date.now,
  /** Told of every answer's code and when its request started (performance.now()), for /metrics. */
  observe: ((code: string, started: number) => void) | null = null,
) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = observe === null ? 0 : performance.now();
    const early = (status: number, code: string) => {
      refuse(res, status, code);
      observe?.(code, started);
    };
    const key = presentedKey(req);
    if (!key) {
      early(401, 'MISSING_KEY');
      return;
    }
    const access = requiredAccess(req);
    const scopes = requiredScopes(req);
    if (access === 'INVALID' || scopes === 'INVALID') {
      early(400, 'BAD_REQUIREMENTS');
      return;
    }
    const spend = cost(req);
    if (spend === 'INVALID') {
      early(400, 'BAD_COST');
      return;
    }
    const xff = req.headers['x-forwarded-for'];
    const realIp = req.headers['x-real-ip'];
    const ip = clientIp(
      req.socket.remoteAddress,
      { xff: typeof xff === 'string' ? xff : undefined, realIp: typeof realIp === 'string' ? realIp : undefined },
      proxies,
    );
    const request = { key, ip, requiredAccess: access, requiredScopes: scopes, cost: spend };
    const outcome = tracing.enabled
      ? context.with(forwardAuthContext(req.headers), () => verifier.verify(request))
      : verifier.verify(request);
    if (outcome instanceof Promise) {
      outcome.then(
        (settled) => {
          answer(res, settled, clock);
          observe?.(settled.code, started);
        },
        () => early(503, 'UNAVAILABLE'),
      );
    } else {
      answer(res, outcome, clock);
      observe?.(outcome.code, started);
    }
  };
}

const VALID_BODY = '{"valid":true,"code":"VALID"}';

/** The identity headers of a key, built once per cached key object. */
const identityHeaders = new WeakMap<VerifiableKey, string[]>();

function headersFor(key: VerifiableKey): string[] {
  let headers = identityHeaders.get(key);
  if (!headers) {
    headers = [
      'content-type',
      'application/json',
      // A length rather than chunked framing: the whole answer goes out in one write.
      'content-length',
      String(VALID_BODY.length),
      'cache-control',
      'no-store',
      'x-keygate-code',
      'VALID',
      'x-keygate-key-id',
      globalId('ApiKey', key.id),
      'x-keygate-application-id',
      globalId('Application', key.applicationId),
      'x-keygate-merchant-id',
      key.merchantId,
      'x-keygate-environment',
      key.environment,
      'x-keygate-access',
      key.access,
      'x-keygate-scopes',
      key.scopes.join(' '),
    ];
    // The merchant's data for the key, as base64url JSON (header-safe, exactly as stored).
    if (key.metadata !== null) headers.push('x-keygate-metadata', Buffer.from(key.metadata).toString('base64url'));
    if (key.externalId !== null) headers.push('x-keygate-external-id', encodeURIComponent(key.externalId));
    identityHeaders.set(key, headers);
  }
  return headers;
}

/**
 * A metered key's state as header fields: the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers:
 * each limit as a policy with its quota q and window w, and its remaining r and seconds to reset t),
 * and the credits left.
 */
function meteringHeaders(base: string[], outcome: VerifyOutcome, key: VerifiableKey, now: number): string[] {
  const headers = base.slice();
  const limits = outcome.rateLimits;
  if (limits !== undefined && limits.length > 0) {
    let state = '';
    for (const limit of limits) {
      if (state !== '') state += ', ';
      state += `"${limit.name}";r=${limit.remaining};t=${Math.max(0, Math.ceil((limit.resetAt - now) / 1000))}`;
      if (limit.exceeded) headers.push('x-keygate-rate-limit', limit.name);
    }
    headers.push('ratelimit-policy', policyOf(key), 'ratelimit', state);
  }
  if (outcome.creditsRemaining !== undefined) {
    headers.push('x-keygate-credits-remaining', String(outcome.creditsRemaining));
  }
  return headers;
}

/** RateLimit-Policy: the key's limits as quota policies, built once per cached key object. */
const policies = new WeakMap<VerifiableKey, string>();
function policyOf(key: VerifiableKey): string {
  let policy = policies.get(key);
  if (policy === undefined) {
    policy = (key.meter?.rateLimits ?? []).map((l) => `"${l.name}";q=${l.limit};w=${l.windowMs / 1000}`).join(', ');
    policies.set(key, policy);
  }
  return policy;
}

function answer(res: ServerResponse, outcome: VerifyOutcome, clock: () => number): void {
  const { code, key } = outcome;
  if (code !== 'VALID' || !key) {
    const metered = key?.meter != null ? meteringHeaders([], outcome, key, clock()) : undefined;
    refuse(res, STATUS[code], code, outcome.retryAfterSeconds, metered);
    return;
  }
  res.writeHead(200, key.meter === null ? headersFor(key) : meteringHeaders(headersFor(key), outcome, key, clock()));
  res.end(VALID_BODY);
}

function refuse(res: ServerResponse, status: number, code: string, retryAfterSeconds?: number, extra?: string[]): void {
  const body = `{"valid":false,"code":"${code}"}`;
  const headers = [
    'content-type',
    'application/json',
    'content-length',
    String(body.length),
    'cache-control',
    'no-store',
    'x-keygate-code',
    code,
  ];
  if (status === 401) headers.push('www-authenticate', 'ApiKey');
  if (retryAfterSeconds !== undefined) headers.push('retry-after', String(retryAfterSeconds));
  if (extra !== undefined) headers.push(...extra);
  res.writeHead(status, headers);
  res.end(body);
}
