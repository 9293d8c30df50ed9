// The verifier's public types. They are its own (no other package's types appear in its
// declarations), and they match what Keygate's verifyKey answers field for field.

/** Why a verification came out as it did; `UNAVAILABLE` when Keygate could not be asked. */
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
  | 'TOO_MANY_FAILURES'
  | 'UNAVAILABLE';

export type Access = 'READ_ONLY' | 'FULL_ACCESS';

export interface RateLimitState {
  name: string;
  limit: number;
  /** Left in the current window (never more than the truth). */
  remaining: number;
  /** When the current window ends, as an ISO 8601 time (verifyKey's DateTime). */
  resetAt: string;
  /** This limit refused the verification. */
  exceeded: boolean;
}

/**
 * A verification's outcome: exactly the fields of verifyKey's KeyVerification. Read-only: answers
 * that are the same every time (a key with nothing metered, a bare refusal) are shared, frozen objects.
 */
export interface KeyVerification {
  valid: boolean;
  code: VerifyCode;
  /** The key's global id (as the GraphQL API names it); set when valid. */
  keyId: string | null;
  prefix: string | null;
  applicationId: string | null;
  merchantId: string | null;
  environment: 'LIVE' | 'TEST' | null;
  access: Access | null;
  scopes: string[] | null;
  /** The key's metadata, as its merchant set it. */
  metadata: unknown;
  /** The merchant's own id for the key's owner. */
  externalId: string | null;
  /** The identity the key belongs to (a customer, a user), if any: its id, the merchant's own id for it, its metadata. */
  identity: VerifiedIdentity | null;
  /** Seconds until trying again can succeed (TOO_MANY_FAILURES, RATE_LIMITED, USAGE_EXCEEDED, UNAVAILABLE). */
  retryAfterSeconds: number | null;
  /** Keys with credits: what is left after this verification (never more than the truth). */
  creditsRemaining: number | null;
  /** Keys with rate limits: each limit after this verification. */
  rateLimits: RateLimitState[] | null;
}

export interface VerifiedIdentity {
  /** The Identity's global id (as the GraphQL API names it). */
  id: string;
  externalId: string;
  metadata: unknown;
}

export interface VerifyInput {
  /** The key the client presented. It never leaves this process: Keygate is asked by its SHA-256 hash. */
  key: string;
  /** The client's address, for IP rules, last-used addresses and the guess limiter. */
  ip?: string | null;
  /** FULL_ACCESS refuses READ_ONLY keys. */
  requiredAccess?: Access | null;
  /** Every one must be covered by the key's scopes. */
  requiredScopes?: readonly string[] | null;
  /**
   * A permission expression the key's scopes must satisfy, e.g. "orders.read AND (refunds.write OR
   * admin)" (AND, OR, parentheses; wildcards as with requiredScopes). Parsed once per distinct text;
   * a malformed one throws a KeygateRequirementsError naming the position.
   */
  requiredPermissions?: string | null;
  /** Credits this verification spends on a key with credits (default 1; 0 spends none). */
  cost?: number | null;
}

export interface VerifierOptions {
  /** Keygate's base URL, e.g. https://keygate.internal:4000 */
  url: string;
  /** A service token (`keygate_role: verifier`), from `pnpm run token --verifier` or your issuer. */
  token: string;
  /**
   * Keys this process keeps in memory (least recently used first out; under 1 KB each).
   * Default 100,000.
   */
  maxKeys?: number;
  /** Unknown keys remembered as unknown, apart from real ones. Default 100,000. */
  maxUnknown?: number;
  /**
   * While Keygate cannot be reached, keep answering for keys this process verified within this many
   * seconds (as they were then; metered keys still need Keygate). Default 0: fail closed, with
   * UNAVAILABLE. Keys never seen are never VALID without Keygate.
   */
  staleIfErrorSeconds?: number;
  /** Wrong guesses (MALFORMED, NOT_FOUND) allowed per client address before TOO_MANY_FAILURES. Default 30; 0 turns it off. */
  failedVerifications?: number;
  /** The window in which `failedVerifications` refill. Default 60 s. */
  failedVerificationsWindowSeconds?: number;
  /** How often usage (last used, counts, refusals) is sent to Keygate: one request each time. Default 5,000 ms. */
  flushIntervalMs?: number;
  /** Longest a request to Keygate may take. Default 2,000 ms; usage reports may take 15 s (or this, if longer). */
  timeoutMs?: number;
  /** Told of problems talking to Keygate (default: console.warn, once per kind of problem a minute). */
  onError?: (error: Error) => void;
}

/** Counters for your metrics. */
export interface VerifierStats {
  /** Verifications answered from memory, and those that asked Keygate. */
  hits: number;
  misses: number;
  /** Keys and unknown hashes in memory. */
  keys: number;
  unknown: number;
  /** Changes received on the feed, and whether it is connected and trusted now. */
  changes: number;
  feedConnected: boolean;
  /** Requests sent to Keygate, by kind. */
  requests: { keys: number; usage: number; meter: number; acks: number };
}

export interface KeygateVerifier {
  /**
   * Verifies a key: synchronously from memory when possible. Never throws: problems are UNAVAILABLE.
   * `connection`, optional: the request's connection (its socket). The key a kept-alive connection
   * presented is then remembered with it, so its next requests skip hashing the key (every check
   * still runs; any key change, anywhere, voids what is remembered). The adapters pass it.
   */
  verify(input: VerifyInput, connection?: object): Readonly<KeyVerification> | Promise<Readonly<KeyVerification>>;
  /** Resolves once the change feed is connected (verifications work before, by asking Keygate). */
  ready(timeoutMs?: number): Promise<void>;
  /** Sends what usage is recorded now (also done every flushIntervalMs). */
  flush(): Promise<void>;
  /** Gives back metering reservations, sends the last usage, closes the feed. */
  close(): Promise<void>;
  readonly stats: VerifierStats;
}
