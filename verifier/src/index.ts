// @keygate/verifier: verify Keygate API keys inside your own API's process, in microseconds,
// with revocation pushed to it. See README.md.
import { EmbeddedVerifier } from './embedded.ts';
import type { KeygateVerifier, VerifierOptions } from './types.ts';

export type { RouteRequirements } from './http.ts';
export { KeygateRequirementsError } from './requirements.ts';
export type {
  Access,
  KeygateVerifier,
  KeyVerification,
  RateLimitState,
  VerifiedIdentity,
  VerifierOptions,
  VerifierStats,
  VerifyCode,
  VerifyInput,
} from './types.ts';

/**
 * Starts a verifier: it connects to Keygate's change feed at once, and asks Keygate for a key
 * (by the hash of its secret) the first time it sees it. `token` is a service token.
 */
export function createVerifier(options: VerifierOptions): KeygateVerifier {
  if (typeof options !== 'object' || options === null) throw new TypeError('createVerifier: pass { url, token }');
  return new EmbeddedVerifier(options);
}
