// Key policies: rules a merchant (or the operator, for every merchant) sets on the keys that may
// exist. Checked when a key is created, edited, rolled or imported; a dry run checks existing keys
// against a policy not yet set. Pure: the services load the key and the policy, this judges.
import type { Access } from './verification.ts';
import { scopeGranted } from './verification.ts';

export type PolicyRule =
  | 'MAX_LIFETIME'
  | 'FULL_ACCESS_NEEDS_IP_RULES'
  | 'NO_WILDCARD_SCOPES_IN_LIVE'
  | 'ALLOWED_SCOPES'
  | 'MAX_GRACE_PERIOD';

export interface KeyPolicy {
  /** Longest a key may live, in days from its creation, per environment; absent or null: no bound. */
  maxLifetimeDays?: { live?: number | null; test?: number | null } | null;
  /** FULL_ACCESS keys must have at least one IP rule (or deny by default). */
  fullAccessRequiresIpRules?: boolean | null;
  /** LIVE keys may not hold a scope ending in `*`. */
  noWildcardScopesInLive?: boolean | null;
  /** Every scope of a key must be covered by one of these (wildcards as in verification); null: any. */
  allowedScopes?: readonly string[] | null;
  /** The longest grace period of a roll, in seconds; null: the API's own bound. */
  maxGracePeriodSeconds?: number | null;
}

/** What a policy judges of a key: as it would be after the change being made. */
export interface PolicySubject {
  environment: 'LIVE' | 'TEST';
  access: Access;
  scopes: readonly string[];
  /** Milliseconds since the epoch; null: never expires. */
  expiresAt: number | null;
  /** When the key was (or is being) created, in milliseconds. */
  createdAt: number;
  ipRuleCount: number;
  ipDefaultAction: 'ALLOW' | 'DENY';
}

export interface PolicyViolation {
  rule: PolicyRule;
  /** The input field to change, e.g. "expiresAt". */
  field: string;
  message: string;
}

const DAY_MS = 86_400_000;

/** Every rule of `policy` the key breaks; empty when it conforms. */
export function policyViolations(
  policy: KeyPolicy,
  key: PolicySubject,
  change: { gracePeriodSeconds?: number } = {},
): PolicyViolation[] {
  const violations: PolicyViolation[] = [];
  const days = policy.maxLifetimeDays?.[key.environment === 'LIVE' ? 'live' : 'test'];
  if (days != null) {
    const latest = key.createdAt + days * DAY_MS;
    if (key.expiresAt === null) {
      violations.push({
        rule: 'MAX_LIFETIME',
        field: 'expiresAt',
        message: `${key.environment} keys must expire within ${days} days of their creation; set an expiry`,
      });
    } else if (key.expiresAt > latest) {
      violations.push({
        rule: 'MAX_LIFETIME',
        field: 'expiresAt',
        message: `${key.environment} keys must expire within ${days} days of their creation (by ${new Date(latest).toISOString()})`,
      });
    }
  }
  if (
    policy.fullAccessRequiresIpRules &&
    key.access === 'FULL_ACCESS' &&
    key.ipRuleCount === 0 &&
    key.ipDefaultAction === 'ALLOW'
  ) {
    violations.push({
      rule: 'FULL_ACCESS_NEEDS_IP_RULES',
      field: 'access',
      message: 'full-access keys must be limited by IP rules; make it read only, or set its IP rules first',
    });
  }
  if (policy.noWildcardScopesInLive && key.environment === 'LIVE') {
    const wild = key.scopes.filter((scope) => scope.endsWith('*'));
    if (wild.length > 0) {
      violations.push({
        rule: 'NO_WILDCARD_SCOPES_IN_LIVE',
        field: 'scopes',
        message: `live keys may not hold wildcard scopes (${wild.join(', ')})`,
      });
    }
  }
  if (policy.allowedScopes != null) {
    const allowed = policy.allowedScopes;
    // A key without scopes may do everything its access allows: more than any list grants.
    const outside =
      key.scopes.length === 0 ? ['(none: everything)'] : key.scopes.filter((scope) => !coveredBy(allowed, scope));
    if (outside.length > 0) {
      violations.push({
        rule: 'ALLOWED_SCOPES',
        field: 'scopes',
        message: `scopes outside what the policy allows (${allowed.join(', ')}): ${outside.join(', ')}`,
      });
    }
  }
  if (
    policy.maxGracePeriodSeconds != null &&
    change.gracePeriodSeconds !== undefined &&
    change.gracePeriodSeconds > policy.maxGracePeriodSeconds
  ) {
    violations.push({
      rule: 'MAX_GRACE_PERIOD',
      field: 'gracePeriodSeconds',
      message: `a roll's grace period may be at most ${policy.maxGracePeriodSeconds} seconds`,
    });
  }
  return violations;
}

/**
 * Whether a key scope stays within the allowed list: covered by an allowed scope, or (for a key's
 * own wildcard) no wider than an allowed wildcard.
 */
function coveredBy(allowed: readonly string[], scope: string): boolean {
  if (!scope.endsWith('*')) return scopeGranted(allowed, scope);
  const stem = scope.slice(0, -1);
  return allowed.some((granted) => granted.endsWith('*') && stem.startsWith(granted.slice(0, -1)));
}
