// The verification decision: given a stored key and a request, which reason
// code applies. Checks run in this order, and the first failing one decides:
//   MALFORMED            not shaped like a Keygate key, or the checksum fails (no lookup)
//   NOT_FOUND            no key with this secret (or another merchant's, for a merchant caller)
//   REVOKED              revoked keys never verify again
//   KEY_DISABLED         disabled by its merchant (reversible, unlike revocation)
//   EXPIRED              the expiry has passed
//   APPLICATION_DISABLED the key's application is disabled
//   IP_DENIED            the key's IP rules refuse the client address
//   INSUFFICIENT_ACCESS  a READ_ONLY key where FULL_ACCESS is required
//   INSUFFICIENT_SCOPE   the key's scopes do not cover every required scope, or do not
//                        satisfy the required permission expression
//   USAGE_EXCEEDED       metered keys: too few credits left for this verification's cost
//   RATE_LIMITED         metered keys: one of the key's own rate limits is used up for now
//   VALID
// Before all of these, TOO_MANY_FAILURES: the client address has guessed wrong
// (MALFORMED, NOT_FOUND) too often lately; nothing about the key is looked at.
// The two metering checks consume nothing unless both pass (see the server's Meter).
// Facts about the key itself come before facts about the request, so a revoked
// key says REVOKED from any address.
import type { CompiledIpRules } from './ip-rules.ts';
import type { KeyMeter, RateLimitState } from './metering.ts';

export type VerifyCode =
  | 'VALID'
  | 'MALFORMED'
  | 'NOT_FOUND'
  | 'REVOKED'
  | 'KEY_DISABLED'
  | 'EXPIRED'
  | 'APPLICATION_DISABLED'
  | 'IP_DENIED'
  | 'INSUFFICIENT_ACCESS'
  | 'INSUFFICIENT_SCOPE'
  | 'USAGE_EXCEEDED'
  | 'RATE_LIMITED'
  | 'TOO_MANY_FAILURES';

export const VERIFY_CODES: readonly VerifyCode[] = [
  'VALID',
  'MALFORMED',
  'NOT_FOUND',
  'REVOKED',
  'KEY_DISABLED',
  'EXPIRED',
  'APPLICATION_DISABLED',
  'IP_DENIED',
  'INSUFFICIENT_ACCESS',
  'INSUFFICIENT_SCOPE',
  'USAGE_EXCEEDED',
  'RATE_LIMITED',
  'TOO_MANY_FAILURES',
];

/** The HTTP status each outcome is answered with, by /v1/auth and by @keygate/verifier's adapters. */
export const VERIFY_STATUS: Readonly<Record<VerifyCode, number>> = {
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

export type Access = 'READ_ONLY' | 'FULL_ACCESS';

/** What verification needs to know about a stored key (cached in memory). */
export interface VerifiableKey {
  id: string;
  prefix: string;
  applicationId: string;
  merchantId: string;
  environment: 'LIVE' | 'TEST';
  access: Access;
  /** Its effective scopes: its own plus those of its roles. */
  scopes: readonly string[];
  /** The roles it has (absent when none): a change to one of them drops it from caches. */
  roleIds?: readonly string[];
  /** Milliseconds since the epoch, or null for no expiry. */
  expiresAt: number | null;
  revoked: boolean;
  /** False while its merchant has disabled it. */
  enabled: boolean;
  applicationEnabled: boolean;
  ipRules: CompiledIpRules;
  /** Credits and rate limits; null when the key has neither. */
  meter: KeyMeter | null;
  /**
   * Whose credits and rate limits apply: the key's own id, or, for a rolled key in its grace
   * period, the id of the key that replaced it (the two share one quota).
   */
  meterKeyId: string;
  /** The merchant's own data for the key, as JSON text (returned on every verification), or null. */
  metadata: string | null;
  /** The merchant's own id for the key's owner, or null. */
  externalId: string | null;
  /** The identity the key belongs to (absent when none): a change to it drops the key from caches. */
  identity?: KeyIdentity;
}

export interface VerifyRequest {
  key: string;
  /** The client address in canonical form (see parseIp(...).toString()), or null when unknown. */
  ip?: string | null;
  requiredAccess?: Access | null;
  requiredScopes?: readonly string[] | null;
  /** A permission expression the key's scopes must satisfy (parsePermissions), beside requiredScopes. */
  requiredPermissions?: { allows(keyScopes: readonly string[]): boolean; readonly scopes?: readonly string[] } | null;
  /** Credits this verification spends on a key with credits (default 1; 0 spends none). */
  cost?: number | null;
}

export function decide(key: VerifiableKey, request: VerifyRequest, now: number): VerifyCode {
  if (key.revoked) return 'REVOKED';
  if (!key.enabled) return 'KEY_DISABLED';
  if (key.expiresAt !== null && key.expiresAt <= now) return 'EXPIRED';
  if (!key.applicationEnabled) return 'APPLICATION_DISABLED';
  if (key.ipRules.decide(request.ip ?? null) === 'DENY') return 'IP_DENIED';
  if (request.requiredAccess === 'FULL_ACCESS' && key.access !== 'FULL_ACCESS') return 'INSUFFICIENT_ACCESS';
  if (request.requiredScopes?.length && !scopesAllow(key.scopes, request.requiredScopes)) return 'INSUFFICIENT_SCOPE';
  if (request.requiredPermissions && !request.requiredPermissions.allows(key.scopes)) return 'INSUFFICIENT_SCOPE';
  return 'VALID';
}

/**
 * A key without scopes may do everything its access level allows. Otherwise
 * each required scope must be one of the key's, or fall under a key scope that
 * ends in `*` ("payments:*" covers "payments:write"; "*" covers everything).
 */
export function scopesAllow(keyScopes: readonly string[], required: readonly string[]): boolean {
  if (keyScopes.length === 0) return true;
  return required.every((scope) => scopeGranted(keyScopes, scope));
}

/** Whether key scopes cover one required scope: equal, or under a key scope ending in `*`. */
export function scopeGranted(keyScopes: readonly string[], scope: string): boolean {
  return grantsOf(keyScopes).covers(scope);
}

/** A key's scopes, ready for many checks: exact ones in a set, wildcards as their prefixes. */
export class Grants {
  private readonly exact: Set<string>;
  private readonly prefixes: string[] = [];
  constructor(scopes: readonly string[]) {
    this.exact = new Set(scopes);
    for (const granted of scopes) if (granted.endsWith('*')) this.prefixes.push(granted.slice(0, -1));
  }
  covers(scope: string): boolean {
    if (this.exact.has(scope)) return true;
    for (const prefix of this.prefixes) if (scope.startsWith(prefix)) return true;
    return false;
  }
}

/** Each key's scope list (frozen with the cached key) is compiled once. */
const grants = new WeakMap<readonly string[], Grants>();
/** The last list asked about: a busy key asks again and again, and a reference test is cheaper than a lookup. */
let lastScopes: readonly string[] | null = null;
let lastGrants: Grants | null = null;
export function grantsOf(keyScopes: readonly string[]): Grants {
  if (keyScopes === lastScopes) return lastGrants as Grants;
  let compiled = grants.get(keyScopes);
  if (compiled === undefined) {
    compiled = new Grants(keyScopes);
    grants.set(keyScopes, compiled);
  }
  lastScopes = keyScopes;
  lastGrants = compiled;
  return compiled;
}

export interface VerifyOutcome {
  code: VerifyCode;
  /** The key the secret belongs to, when one was found (also for refusals other than NOT_FOUND). */
  key?: VerifiableKey;
  /** With TOO_MANY_FAILURES, RATE_LIMITED (and USAGE_EXCEEDED before a refill): when to try again. */
  retryAfterSeconds?: number;
  /** Keys with credits, after this verification (a lower bound when several instances share the key). */
  creditsRemaining?: number;
  /** Keys with rate limits: each limit after this verification. */
  rateLimits?: RateLimitState[];
}

/** Whoever a key belongs to, as verification answers with it. */
export interface KeyIdentity {
  id: string;
  /** The merchant's own id for it. */
  externalId: string;
  /** The merchant's own data about it, as JSON text, or null. */
  metadata: string | null;
  /** Credits and rate limits all its keys share (checked with each key's own); null or absent: none. */
  meter?: KeyMeter | null;
}

/** The verification service as the API layers see it. */
export interface KeyVerifier {
  /** Synchronous when the key is in memory; a promise when it has to be loaded. */
  verify(request: VerifyRequest, scope?: { merchantId: string }): VerifyOutcome | Promise<VerifyOutcome>;
}

/** Which keys a change can make verify differently: what a verification cache must drop. */
export interface KeyChange {
  keyIds?: readonly string[];
  applicationId?: string;
  hashes?: readonly string[];
  /** Every key that has one of these roles. */
  roleIds?: readonly string[];
  /** Every key that belongs to one of these identities. */
  identityIds?: readonly string[];
  /** Prefixes of imported keys that some merchant registered, or that no merchant has any more. */
  importPrefixes?: { added?: readonly string[]; removed?: readonly string[] };
  /** Keys were imported: hashes remembered as unknown may be keys now. */
  misses?: true;
}
