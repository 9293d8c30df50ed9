// Verifies the management API's bearer tokens (JWT, with jose) and turns them
// into who the request acts for: a merchant, or a verification service.
import type { Viewer } from '@keygate/services';
import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import type { AuthConfig } from '../config.ts';
import { AuthenticationError, AuthenticationUnavailableError } from './errors.ts';

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
  const verified = new LRUCache<string, Principal>({ max: 10_000 });

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
    verified.set(token, principal, { ttl: Math.max(1, (payload.exp as number) * 1000 - Date.now()) });
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

/** The reason logged for a token signed with another secret or key. */
export const BAD_SIGNATURE = 'the token signature is invalid';

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the token's "${error.claim}" claim is not accepted`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed)
    return 'the token is signed with an algorithm that is not accepted';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return BAD_SIGNATURE;
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
