// Test fixtures of the domain: one verifiable key, for every test of the verification path
// (the decision, the cache, the verifier, the meter, the in-process verifier library).
import { compileIpRules } from './ip-rules.ts';
import type { VerifiableKey } from './verification.ts';

/** A key that verifies (live, full access, no scopes, no expiry, no IP rules, unmetered), as overridden. */
export function verifiableKey(overrides: Partial<VerifiableKey> = {}): VerifiableKey {
  return {
    id: 'k',
    prefix: 'kg_live_abcd',
    applicationId: 'a',
    merchantId: 'm',
    environment: 'LIVE',
    access: 'FULL_ACCESS',
    scopes: [],
    expiresAt: null,
    revoked: false,
    enabled: true,
    applicationEnabled: true,
    ipRules: compileIpRules([], 'ALLOW'),
    meter: null,
    meterKeyId: overrides.id ?? 'k',
    metadata: null,
    externalId: null,
    ...overrides,
  };
}
