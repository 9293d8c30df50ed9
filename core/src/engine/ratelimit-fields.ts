// The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers) of a metered key's
// answer, as /v1/auth and @keygate/verifier's adapters send them: RateLimit-Policy (each limit's
// quota q and window w) and RateLimit (its remaining r and the seconds t to its reset). What does
// not change between answers is made once per cached key object; a key change brings a new one.
import type { VerifiableKey } from '../index.ts';
import { rateLimitsOf, small } from './meter.ts';

export interface RateLimitTexts {
  /** RateLimit-Policy's value. */
  readonly policy: string;
  /** The limits' names, in answer order (the key's own, then its identity's). */
  readonly names: readonly string[];
  /** Per limit, the start of its RateLimit entry: `"name";r=`. */
  readonly prefixes: readonly string[];
}

const made = new WeakMap<VerifiableKey, RateLimitTexts>();

export function rateLimitTexts(key: VerifiableKey): RateLimitTexts {
  let texts = made.get(key);
  if (texts === undefined) {
    const limits = rateLimitsOf(key);
    texts = {
      policy: limits.map((l) => `"${l.name}";q=${l.limit};w=${l.windowMs / 1000}`).join(', '),
      names: limits.map((l) => l.name),
      prefixes: limits.map((l) => `"${l.name}";r=`),
    };
    made.set(key, texts);
  }
  return texts;
}

/**
 * The `i`th limit's entry in RateLimit: what remains, and the whole seconds until its window ends.
 * `name` is the limit the answer reports at that place (the prefix made for it is used).
 */
export function rateLimitEntry(
  texts: RateLimitTexts,
  i: number,
  name: string,
  remaining: number,
  resetMs: number,
  now: number,
): string {
  const prefix = texts.names[i] === name ? texts.prefixes[i] : `"${name}";r=`;
  return `${prefix}${remaining};t=${small(Math.max(0, Math.ceil((resetMs - now) / 1000)))}`;
}
