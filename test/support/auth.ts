// For tests that build Keygate's app in process: a random HS256 secret,
// Keygate's authenticator for it, and a signer of tokens with it.
import { randomBytes } from 'node:crypto';
import { createAuthenticator } from '@keygate/server';
import { SignJWT } from 'jose';

export function testAuth() {
  const secret = randomBytes(32);
  const authenticate = createAuthenticator({
    key: { kind: 'secret', secret, origin: 'environment' },
    merchantClaim: 'merchant_id',
  });
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(secret);
  return { secret, authenticate, sign, settings: { maxKeysPerApplication: 100, maxPageSize: 100 } };
}
