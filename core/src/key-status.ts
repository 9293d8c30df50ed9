// A key's status, derived from its times: the one definition the API, the
// filters and the verifier share.

export const KEY_STATUSES = ['ACTIVE', 'EXPIRED', 'REVOKED'] as const;
export type KeyStatusName = (typeof KEY_STATUSES)[number];

export function keyStatus(key: { revokedAt: Date | null; expiresAt: Date | null }, now: Date): KeyStatusName {
  if (key.revokedAt) return 'REVOKED';
  if (key.expiresAt && key.expiresAt <= now) return 'EXPIRED';
  return 'ACTIVE';
}
