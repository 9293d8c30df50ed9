// `pnpm run token <merchant> [--subject s] [--expires-in 1h]`: prints a JWT for the
// management API, signed with the configured secret or the development one.
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { loadAuth } from '../auth.ts';
import { ConfigError, loadConfig } from '../config.ts';

const usage = 'usage: pnpm run token <merchant-id> [--subject <sub>] [--expires-in <e.g. 1h, 7d>]';

try {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { subject: { type: 'string' }, 'expires-in': { type: 'string', default: '12h' } },
  });
  const merchantId = positionals[0];
  if (!merchantId || positionals.length > 1) throw new ConfigError(usage);
  const auth = loadAuth(loadConfig());
  if (auth.key.kind !== 'secret') {
    throw new ConfigError('KEYGATE_JWKS_URL is set: tokens come from your identity provider, not from Keygate');
  }
  let jwt = new SignJWT({ [auth.merchantClaim]: merchantId })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(values.subject ?? `dev:${merchantId}`)
    .setIssuedAt()
    .setExpirationTime(values['expires-in']!);
  if (auth.issuer) jwt = jwt.setIssuer(auth.issuer);
  if (auth.audience) jwt = jwt.setAudience(auth.audience);
  console.log(await jwt.sign(auth.key.secret));
} catch (error) {
  console.error(`keygate token: ${(error as Error).message}`);
  process.exit(2);
}
