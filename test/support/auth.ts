// Test tokens, signed in one place: HS256 JWTs as Keygate's own token command
// or an identity provider would issue them. (Tests of refused tokens craft
// their bad ones themselves.)
import { randomBytes } from 'node:crypto';
import { createAuthenticator } from '@keygate/server';
import { SignJWT } from 'jose';

export interface TokenOptions {
  subject?: string;
  issuer?: string | undefined;
  audience?: string | undefined;
  expiresIn?: string;
}

export function signToken(key: Uint8Array, claims: Record<string, unknown>, options: TokenOptions = {}) {
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h');
  if (options.subject) jwt = jwt.setSubject(options.subject);
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(key);
}

/** For tests that build Keygate's app in process: a random secret, its authenticator and signer. */
export function testAuth() {
  const secret = randomBytes(32);
  const authenticate = createAuthenticator({
    key: { kind: 'secret', secret, origin: 'environment' },
    merchantClaim: 'merchant_id',
  });
  const sign = (claims: Record<string, unknown>) => signToken(secret, claims);
  return { secret, authenticate, sign, settings: { maxKeysPerApplication: 100, maxPageSize: 100 } };
}
