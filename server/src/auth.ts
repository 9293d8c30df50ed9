// Verifies the management API's bearer tokens (JWT, with jose) and turns them
// into the merchant the request acts for.

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Viewer } from '@keygate/schema';
import { GraphQLError } from 'graphql';
import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { type AuthConfig, type Config, ConfigError } from './config.ts';

const DEV_SECRET_FILE = 'dev-jwt-secret';
const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

/**
 * Settles where tokens are checked against. Without KEYGATE_JWT_SECRET or
 * KEYGATE_JWKS_URL, development mode keeps a random secret in the data
 * directory (created on first use), so there is never a fixed default.
 */
export function loadAuth(config: Config): AuthConfig {
  const { secret, jwksUrl, ...rest } = config.auth;
  if (secret && jwksUrl) throw new ConfigError('Set KEYGATE_JWT_SECRET or KEYGATE_JWKS_URL, not both');
  if (jwksUrl) {
    let url: URL;
    try {
      url = new URL(jwksUrl);
    } catch {
      throw new ConfigError('KEYGATE_JWKS_URL must be a URL');
    }
    return { ...rest, key: { kind: 'jwks', url } };
  }
  if (secret) {
    if (Buffer.byteLength(secret) < 32) throw new ConfigError('KEYGATE_JWT_SECRET must be at least 32 bytes long');
    return { ...rest, key: { kind: 'secret', secret: new TextEncoder().encode(secret), origin: 'environment' } };
  }
  if (config.production) {
    throw new ConfigError(
      'NODE_ENV=production needs KEYGATE_JWT_SECRET or KEYGATE_JWKS_URL; the development secret is refused',
    );
  }
  return {
    ...rest,
    key: { kind: 'secret', secret: new TextEncoder().encode(devSecret(config.dataDir)), origin: 'development file' },
  };
}

export function devSecretPath(dataDir: string): string {
  return join(dataDir, DEV_SECRET_FILE);
}

function devSecret(dataDir: string): string {
  const path = devSecretPath(dataDir);
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true });
    // 'wx' fails if another process created it first; then read theirs.
    try {
      writeFileSync(path, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
      chmodSync(path, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return readFileSync(path, 'utf8').trim();
}

/** What a caller without credentials is told. */
export const MISSING_CREDENTIALS = 'Unauthenticated: send Authorization: Bearer <JWT> (see `pnpm run token`)';
/**
 * What a caller with rejected credentials is told, whatever the reason: an
 * attacker learns nothing from trying. The reason goes to the server's log,
 * under the request id that the response's X-Request-Id header carries.
 */
export const REJECTED_CREDENTIALS =
  "Unauthenticated: the token was not accepted (the server's log names the reason under this response's X-Request-Id)";

export class AuthenticationError extends GraphQLError {
  /** Why the credentials were refused: for the log, never for the response. */
  readonly reason: string | null;

  constructor(message: typeof MISSING_CREDENTIALS | typeof REJECTED_CREDENTIALS, reason: string | null = null) {
    super(message, {
      extensions: { code: 'UNAUTHENTICATED', http: { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } } },
    });
    this.reason = reason;
  }

  static rejected(reason: string): AuthenticationError {
    return new AuthenticationError(REJECTED_CREDENTIALS, reason);
  }
}

/**
 * The identity provider's key set could not be fetched (unreachable, timed out,
 * not a key set): the token may well be good, so this is not the caller's fault.
 */
export class AuthenticationUnavailableError extends GraphQLError {
  readonly reason: string;

  constructor(reason: string) {
    super(
      "Keygate cannot check tokens right now: the identity provider's keys could not be fetched. Try again shortly.",
      {
        extensions: { code: 'SERVICE_UNAVAILABLE', http: { status: 503, headers: { 'Retry-After': '5' } } },
      },
    );
    this.reason = reason;
  }
}

/** Who a verified token speaks for: a merchant, or a verification service. */
export type Principal = ({ kind: 'merchant' } & Viewer) | { kind: 'verifier'; subject: string | null };

/** The claim that marks a service token; such a token verifies keys for every merchant and manages nothing. */
export const ROLE_CLAIM = 'keygate_role';

export type Authenticator = (authorization: string | null) => Promise<Principal | null>;

/** Resolves to null when no credentials were sent; rejects with AuthenticationError when they are bad. */
export function createAuthenticator(auth: AuthConfig): Authenticator {
  // jose works on WebCrypto: import the HMAC key once rather than on every request.
  const key: Promise<CryptoKey> | JWTVerifyGetKey =
    auth.key.kind === 'secret'
      ? crypto.subtle.importKey('raw', new Uint8Array(auth.key.secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
          'verify',
        ])
      : createRemoteJWKSet(auth.key.url);
  const algorithms = auth.key.kind === 'secret' ? ['HS256'] : ASYMMETRIC_ALGORITHMS;
  // The same token arrives again and again (a gateway's service token, a dashboard session):
  // what it proved is remembered until it expires, instead of checking its signature each time.
  const verified = new VerifiedTokens(10_000);

  return async (authorization) => {
    if (authorization === null || authorization.trim() === '') return null;
    const match = /^Bearer +([A-Za-z0-9_.~+/=-]+)$/i.exec(authorization.trim());
    if (!match) throw AuthenticationError.rejected('the Authorization header is not "Bearer <JWT>"');
    const token = match[1]!;
    const known = verified.get(token);
    if (known) return known;
    let payload: Record<string, unknown>;
    try {
      const verifyWith = typeof key === 'function' ? key : await key;
      ({ payload } = await jwtVerify(token, verifyWith as CryptoKey, {
        algorithms,
        issuer: auth.issuer,
        audience: auth.audience,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      if (auth.key.kind === 'jwks' && isKeySetOutage(error)) {
        throw new AuthenticationUnavailableError(`${auth.key.url}: ${(error as Error).message}`);
      }
      throw AuthenticationError.rejected(describeJoseError(error));
    }
    const principal = principalOf(payload, auth.merchantClaim);
    verified.set(token, principal, (payload.exp as number) * 1000);
    return principal;
  };
}

function principalOf(payload: Record<string, unknown>, merchantClaim: string): Principal {
  const subject = typeof payload.sub === 'string' ? payload.sub : null;
  if (payload[ROLE_CLAIM] !== undefined) {
    if (payload[ROLE_CLAIM] !== 'verifier')
      throw AuthenticationError.rejected(`the "${ROLE_CLAIM}" claim is not "verifier"`);
    return { kind: 'verifier', subject };
  }
  const merchantId = payload[merchantClaim];
  if (typeof merchantId !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(merchantId)) {
    throw AuthenticationError.rejected(`the token has no valid "${merchantClaim}" claim`);
  }
  return { kind: 'merchant', merchantId, subject };
}

/** Tokens whose signature and claims were checked, until their expiry; bounded, oldest out first. */
class VerifiedTokens {
  private readonly entries = new Map<string, { principal: Principal; expiresAt: number }>();
  constructor(private readonly max: number) {}

  get(token: string): Principal | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (entry.expiresAt > Date.now()) return entry.principal;
    this.entries.delete(token);
    return undefined;
  }

  set(token: string, principal: Principal, expiresAt: number): void {
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(token, { principal, expiresAt });
  }
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the token's "${error.claim}" claim is not accepted`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed)
    return 'the token is signed with an algorithm that is not accepted';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token signature is invalid';
  return 'the token is malformed or cannot be verified';
}

/** Failures of fetching the key set, as opposed to failures of the token. */
function isKeySetOutage(error: unknown): boolean {
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return true;
  // jose reports a non-200 answer of the key set's URL as a plain JOSEError.
  if (error instanceof joseErrors.JOSEError) {
    return error.constructor === joseErrors.JOSEError && /JSON Web Key Set/.test(error.message);
  }
  // Not jose's own: the request for the key set failed (refused, reset, DNS).
  return true;
}
