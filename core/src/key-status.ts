// A key's status, derived from its times and its enabled flag: the one definition
// the API, the filters and the verifier share. Revoked before disabled before expired.

export const KEY_STATUSES = ['ACTIVE', 'DISABLED', 'EXPIRED', 'REVOKED'] as const;
export type KeyStatusName = (typeof KEY_STATUSES)[number];

export function keyStatus(
  key: { revokedAt: Date | null; expiresAt: Date | null; enabled: boolean },
  now: Date,
): KeyStatusName {
  if (key.revokedAt) return 'REVOKED';
  if (!key.enabled) return 'DISABLED';
  if (key.expiresAt && key.expiresAt <= now) return 'EXPIRED';
  return 'ACTIVE';
}
