// Forward authentication for gateways (nginx auth_request, Traefik
// ForwardAuth, Envoy ext_authz): one HTTP request in, a status and identity
// headers out. Plain node:http, no GraphQL on this path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  accessForMethods,
  globalId,
  type KeyVerifier,
  VERIFY_STATUS,
  type VerifiableKey,
  type VerifyOutcome,
} from '@keygate/core';
import { isMetered, rateLimitEntry, rateLimitTexts } from '@keygate/core/engine';
import { context } from '@opentelemetry/api';
import { forwardAuthContext, tracing } from '../observability/tracing.ts';
import { clientIp, type TrustedProxies } from './client-ip.ts';
import { gatewayRequirements } from './gateway-requirements.ts';

/**
 * The request headers forward-auth reads, collected in one pass over rawHeaders: Node would
 * otherwise build the whole `req.headers` object for every request (2.6 % of the server's
 * profile under load). Duplicates combine as Node combines them: the first Authorization
 * counts, other fields are joined with ", ".
 */
export class GatewayHeaders {
  authorization: string | undefined;
  apiKey: string | undefined;
  originalMethod: string | undefined;
  forwardedMethod: string | undefined;
  forwardedFor: string | undefined;
  realIp: string | undefined;
  /** The name of a requirement header that is no longer read (X-Keygate-Required-*, X-Keygate-Cost), if any came. */
  retiredHeader: string | undefined;

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
          if (name.toLowerCase() === 'x-keygate-cost') this.retiredHeader = 'X-Keygate-Cost';
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
        case 25: {
          const lower = name.toLowerCase();
          if (lower === 'x-keygate-required-access' || lower === 'x-keygate-required-scopes') this.retiredHeader = name;
          break;
        }
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

/** An answer decided before verification; `started` is for the metrics. */
function early(
  res: ServerResponse,
  status: number,
  code: string,
  observe: ((code: string, started: number) => void) | null,
  started: number,
  message?: string,
): void {
  refuse(res, status, code, undefined, undefined, message);
  observe?.(code, started);
}

export function createForwardAuthHandler(
  verifier: KeyVerifier,
  proxies: TrustedProxies,
  clock: () => number = Date.now,
  /** Told of every answer's code and when its request started (performance.now()), for /metrics. */
  observe: ((code: string, started: number) => void) | null = null,
  /** Told (once per header name) that a gateway still sends a requirement header that is no longer read. */
  warnRetired: ((header: string) => void) | null = null,
) {
  const warned = new Set<string>();
  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = observe === null ? 0 : performance.now();
    const headers = new GatewayHeaders(req.rawHeaders);
    const url = req.url ?? '';
    const question = url.indexOf('?');
    const requirements = gatewayRequirements(question === -1 ? '' : url.slice(question + 1));
    if (!requirements.ok) {
      early(res, 400, requirements.code, observe, started, requirements.error);
      return;
    }
    if (headers.retiredHeader !== undefined) {
      // Refused, not ignored: a gateway configured with these headers would otherwise get
      // weaker checks than it asked for without a word. A client adding one harms only itself.
      if (warnRetired !== null && !warned.has(headers.retiredHeader.toLowerCase())) {
        warned.add(headers.retiredHeader.toLowerCase());
        warnRetired(headers.retiredHeader);
      }
      early(res, 400, 'BAD_REQUIREMENTS', observe, started, RETIRED);
      return;
    }
    const key = presentedKey(headers);
    if (!key) {
      early(res, 401, 'MISSING_KEY', observe, started);
      return;
    }
    const { access, scopes, permissions, cost } = requirements.value;
    const requiredAccess =
      access ?? accessForMethods([headers.originalMethod, headers.forwardedMethod, req.method ?? 'GET']);
    const ip = clientIp(req.socket.remoteAddress, { xff: headers.forwardedFor, realIp: headers.realIp }, proxies);
    const request = { key, ip, requiredAccess, requiredScopes: scopes, requiredPermissions: permissions, cost };
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

export const RETIRED =
  'requirements and cost come from the auth URL only (e.g. /v1/auth?access=FULL_ACCESS&scopes=orders:write&cost=1): ' +
  'X-Keygate-Required-Access, X-Keygate-Required-Scopes and X-Keygate-Cost are refused, as a client could send them';

/** The identity headers of a key, built once per cached key object. */
const identityHeaders = new WeakMap<VerifiableKey, string[]>();

function headersFor(key: VerifiableKey): string[] {
  let headers = identityHeaders.get(key);
  if (!headers) {
    headers = [
      // No body: the answer is its status and headers. nginx's auth_request reads only the
      // headers of its subrequest's answer and closes a keep-alive connection whose body it
      // left unread, so a body would cost every request a new TCP connection to Keygate.
      'content-length',
      '0',
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
    // The merchant's data for the key, as base64url JSON (header-safe, exactly as stored), and its
    // owner id; empty when unset, so a gateway that copies them always replaces a client's own.
    headers.push('x-keygate-metadata', key.metadata === null ? '' : Buffer.from(key.metadata).toString('base64url'));
    headers.push('x-keygate-external-id', key.externalId === null ? '' : encodeURIComponent(key.externalId));
    // The identity the key belongs to: its id and the merchant's own id for it (percent-encoded).
    headers.push('x-keygate-identity-id', key.identity ? globalId('Identity', key.identity.id) : '');
    headers.push('x-keygate-identity-external-id', key.identity ? encodeURIComponent(key.identity.externalId) : '');
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
    const texts = rateLimitTexts(key);
    let state = '';
    for (let i = 0; i < limits.length; i++) {
      const limit = limits[i]!;
      if (i > 0) state += ', ';
      state += rateLimitEntry(texts, i, limit.name, limit.remaining, limit.resetAt, now);
      if (limit.exceeded) headers.push('x-keygate-rate-limit', limit.name);
    }
    headers.push('ratelimit-policy', texts.policy, 'ratelimit', state);
  }
  if (outcome.creditsRemaining !== undefined) {
    headers.push('x-keygate-credits-remaining', String(outcome.creditsRemaining));
  }
  return headers;
}

function answer(res: ServerResponse, outcome: VerifyOutcome, clock: () => number): void {
  const { code, key } = outcome;
  if (code !== 'VALID' || !key) {
    const metered = key !== undefined && isMetered(key) ? meteringHeaders([], outcome, key, clock()) : undefined;
    refuse(res, VERIFY_STATUS[code], code, outcome.retryAfterSeconds, metered);
    return;
  }
  res.writeHead(200, isMetered(key) ? meteringHeaders(headersFor(key), outcome, key, clock()) : headersFor(key));
  res.end();
}

function refuse(
  res: ServerResponse,
  status: number,
  code: string,
  retryAfterSeconds?: number,
  extra?: string[],
  message?: string,
): void {
  const body =
    message === undefined ? `{"valid":false,"code":"${code}"}` : JSON.stringify({ valid: false, code, message });
  const headers = [
    'content-type',
    'application/json',
    'content-length',
    String(message === undefined ? body.length : Buffer.byteLength(body)),
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
