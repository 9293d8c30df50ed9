// Development tokens, signed with the secret Keygate checks tokens against: for
// `pnpm run token` and the dashboard's "sign in as" form on a loopback server.
import { SignJWT } from 'jose';
import type { AuthConfig } from '../config.ts';
import { ROLE_CLAIM } from './authenticator.ts';

export type DevTokenFor = { merchantId: string } | { verifier: true };

export async function signDevToken(
  auth: AuthConfig,
  who: DevTokenFor,
  options: { subject?: string; expiresIn: string },
): Promise<string> {
  if (auth.key.kind !== 'secret') {
    throw new Error('KEYGATE_JWKS_URL is set: tokens come from your identity provider, not from Keygate');
  }
  const claims = 'verifier' in who ? { [ROLE_CLAIM]: 'verifier' } : { [auth.merchantClaim]: who.merchantId };
  const subject = options.subject ?? ('verifier' in who ? 'dev:verifier' : `dev:${who.merchantId}`);
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn);
  if (auth.issuer) jwt = jwt.setIssuer(auth.issuer);
  if (auth.audience) jwt = jwt.setAudience(auth.audience);
  return jwt.sign(auth.key.secret);
}
