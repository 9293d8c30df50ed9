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

/**
 * The request headers forward-auth reads, collected in one pass over rawHeaders: Node would
 * otherwise build the whole `req.headers` object for every request (2.6 % of the server's
 * profile under load). Duplicates combine as Node combines them: the first Authorization
 * counts, other fields are joined with ", ".
 */
export class GatewayHeaders {
  authorization: string | undefined;
  apiKey: string | undefined;
  requiredAccess: string | undefined;
  requiredScopes: string | undefined;
  cost: string | undefined;
  originalMethod: string | undefined;
  forwardedMethod: string | undefined;
  forwardedFor: string | undefined;
  realIp: string | undefined;

  constructor(raw: string[]) {
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      // Most fields a gateway sends (Host, User-Agent, Accept…) are ruled out by their length alone.
      switch (name.length) {
        case 9:
          if (name.toLowerCase() === 'x-api-key') this.apiKey = join(this.apiKey, value);
          else if (name.toLowerCase() === 'x-real-ip') this.realIp = join(this.realIp, value);
          break;
        case 13:
          if (name.toLowerCase() === 'authorization' && this.authorization === undefined) this.authorization = value;
          break;
        case 14:
          if (name.toLowerCase() === 'x-keygate-cost') this.cost = join(this.cost, value);
          break;
        case 15:
          if (name.toLowerCase() === 'x-forwarded-for') this.forwardedFor = join(this.forwardedFor, value);
          break;
        case 17:
          if (name.toLowerCase() === 'x-original-method') this.originalMethod = join(this.originalMethod, value);
          break;
        case 18:
          if (name.toLowerCase() === 'x-forwarded-method') this.forwardedMethod = join(this.forwardedMethod, value);
          break;
        case 25:
          if (name.toLowerCase() === 'x-keygate-required-access')
            this.requiredAccess = join(this.requiredAccess, value);
          else if (name.toLowerCase() === 'x-keygate-required-scopes')
            this.requiredScopes = join(this.requiredScopes, value);
          break;
      }
    }
  }
}

function join(previous: string | undefined, value: string): string {
  return previous === undefined ? value : `${previous}, ${value}`;
}

/** The presented key: Authorization: Bearer|ApiKey <key>, else X-Api-Key. */
export function presentedKey(headers: GatewayHeaders): string | null {
  const authorization = headers.authorization;
  if (authorization) {
    const space = authorization.indexOf(' ');
    const scheme = authorization.slice(0, space).toLowerCase();
    if (space > 0 && (scheme === 'bearer' || scheme === 'apikey')) return authorization.slice(space + 1).trim();
  }
  const header = headers.apiKey;
  return typeof header === 'string' ? header.trim() : null;
}

/** What the request needs: an explicit header, else inferred from the original method. */
function requiredAccess(headers: GatewayHeaders, method: string | undefined): Access | 'INVALID' {
  const explicit = headers.requiredAccess;
  if (typeof explicit === 'string') {
    const value = explicit.trim().toUpperCase();
    return value === 'READ_ONLY' || value === 'FULL_ACCESS' ? value : 'INVALID';
  }
  const original = headers.originalMethod ?? headers.forwardedMethod ?? method ?? 'GET';
  return READ_METHODS.has(original.toUpperCase()) ? 'READ_ONLY' : 'FULL_ACCESS';
}

function requiredScopes(headers: GatewayHeaders): string[] | 'INVALID' {
  const header = headers.requiredScopes;
  if (typeof header !== 'string' || header.trim() === '') return [];
  if (!SCOPE_LIST.test(header)) return 'INVALID';
  return header.split(/[\s,]+/).filter(Boolean);
}

/** X-Keygate-Cost: the credits this request spends (default 1). */
function cost(headers: GatewayHeaders): number | 'INVALID' {
  const header = headers.cost;
  if (header === undefined) return 1;
  if (!/^\s*\d{1,7}\s*$/.test(header)) return 'INVALID';
  const value = Number(header);
  return value <= METERING_BOUNDS.maxCost ? value : 'INVALID';
}

/** An answer decided before verification; `started` is for the metrics. */
function early(
  res: ServerResponse,
  status: number,
  code: string,
  observe: ((code: string, started: number) => void) | null,
  started: number,
): void {
  refuse(res, status, code);
  observe?.(code, started);
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
    const headers = new GatewayHeaders(req.rawHeaders);
    const key = presentedKey(headers);
    if (!key) {
      early(res, 401, 'MISSING_KEY', observe, started);
      return;
    }
    const access = requiredAccess(headers, req.method);
    const scopes = requiredScopes(headers);
    if (access === 'INVALID' || scopes === 'INVALID') {
      early(res, 400, 'BAD_REQUIREMENTS', observe, started);
      return;
    }
    const spend = cost(headers);
    if (spend === 'INVALID') {
      early(res, 400, 'BAD_COST', observe, started);
      return;
    }
    const ip = clientIp(req.socket.remoteAddress, { xff: headers.forwardedFor, realIp: headers.realIp }, proxies);
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
        () => early(res, 503, 'UNAVAILABLE', observe, started),
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
