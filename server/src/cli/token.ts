// `pnpm run token <merchant>` prints a management JWT for a merchant;
// `pnpm run token --verifier` prints a service token that may only verify keys.
// Signed with KEYGATE_JWT_SECRET, or the development secret of the data directory.
import { parseArgs } from 'node:util';
import { signDevToken } from '../auth/dev-token.ts';
import { loadAuth } from '../auth/secret.ts';
import { ConfigError, loadConfig } from '../config.ts';

const usage = `usage: pnpm run token <merchant-id> [--subject <sub>] [--expires-in <e.g. 1h, 7d>]
       pnpm run token --verifier [--subject <service name>] [--expires-in <…>]

Prints a JWT, and nothing else, on stdout: KEYGATE_TOKEN=$(pnpm run token acme)
  <merchant-id>   the merchant the token acts for (any id; created on first use)
  --verifier      a service token instead, which may only call verifyKey
  --subject       who acts (the JWT's sub, recorded in the audit trail)
  --expires-in    lifetime, e.g. 30m, 12h (default), 7d
Signed with KEYGATE_JWT_SECRET, else the development secret in KEYGATE_DATA_DIR (./.keygate).`;

try {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      subject: { type: 'string' },
      'expires-in': { type: 'string', default: '12h' },
      verifier: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const merchantId = positionals[0];
  if (positionals.length > 1 || values.verifier === Boolean(merchantId)) throw new ConfigError(usage);
  const config = loadConfig();
  const auth = loadAuth(config, (path) =>
    // On stderr: stdout is the token alone. A server started with another data directory has
    // its own secret and will refuse this token.
    console.error(
      `keygate token: created a new development secret in ${path}. Only a server using the data directory ` +
        `${config.dataDir} accepts this token; for a server started with another KEYGATE_DATA_DIR, run this ` +
        'command with the same KEYGATE_DATA_DIR.',
    ),
  );
  if (auth.key.kind !== 'secret') {
    throw new ConfigError('KEYGATE_JWKS_URL is set: tokens come from your identity provider, not from Keygate');
  }
  const token = await signDevToken(auth, values.verifier ? { verifier: true } : { merchantId: merchantId! }, {
    subject: values.subject,
    expiresIn: values['expires-in']!,
  });
  console.log(token);
} catch (error) {
  console.error(`keygate token: ${(error as Error).message}`);
  process.exit(2);
}
