// What the verification engine needs from the world, as interfaces: the server implements them
// over its database, @keygate/verifier over Keygate's HTTP endpoints for verifiers.
import type { VerifiableKey, VerifyCode, VerifyRequest } from '../index.ts';

/** Loads a key's verification record by the SHA-256 hash of its secret; null when there is none. */
export type KeyLoader = (hash: string) => Promise<VerifiableKey | null>;

export interface TakeResult {
  credits: { taken: number; left: number; epoch: number; validUntil: number | null } | null;
  limits: { name: string; limit: number; windowMs: number; windowStart: number; taken: number; left: number }[];
}

/** Metering reservations: taking from a key's pools, and giving back what was not used. */
export interface MeterStore {
  /** null: the key no longer exists or is revoked. */
  take(
    keyId: string,
    now: number,
    credits: { need: number; want: number } | null,
    limits: { name: string; need: number; want: number }[],
  ): Promise<TakeResult | null>;
  giveBack(
    credits: { id: string; epoch: number; n: number }[],
    windows: { id: string; name: string; start: number; n: number }[],
  ): Promise<void>;
}

/** Where verifications are recorded (see UsageBatch). */
export interface UsageSink {
  /** One verification of a known key, whatever its outcome. */
  record(keyId: string, code: VerifyCode, ip: string | null, at: number, request?: VerifyRequest): void;
  /** Credits spent from a reservation of the given epoch. */
  spend(keyId: string, epoch: number, n: number): void;
}
