// A key policy in sentences, for the policy screen and the audit trail.

export interface PolicyRules {
  maxLifetimeDays?: { live?: number | null; test?: number | null } | null;
  fullAccessRequiresIpRules?: boolean | null;
  noWildcardScopesInLive?: boolean | null;
  allowedScopes?: readonly string[] | null;
  maxGracePeriodSeconds?: number | null;
}

const days = (n: number) => `${n.toLocaleString('en-US')} ${n === 1 ? 'day' : 'days'}`;

/** One sentence per rule the policy has; [] for no rule at all. */
export function policySentences(rules: PolicyRules): string[] {
  const out: string[] = [];
  const live = rules.maxLifetimeDays?.live;
  const test = rules.maxLifetimeDays?.test;
  if (live != null) out.push(`Live keys expire within ${days(live)} of creation.`);
  if (test != null) out.push(`Test keys expire within ${days(test)} of creation.`);
  if (rules.fullAccessRequiresIpRules) out.push('Full-access keys must be limited by IP rules.');
  if (rules.noWildcardScopesInLive) out.push('Live keys may not hold wildcard scopes.');
  if (rules.allowedScopes != null) {
    out.push(
      rules.allowedScopes.length === 0 ? 'No scope is allowed.' : `Scopes allowed: ${rules.allowedScopes.join(', ')}.`,
    );
  }
  if (rules.maxGracePeriodSeconds != null) {
    const s = rules.maxGracePeriodSeconds;
    out.push(
      s === 0
        ? 'A rolled key stops working at once.'
        : `A rolled key keeps working for at most ${s % 3600 === 0 ? `${s / 3600} h` : `${s.toLocaleString('en-US')} s`}.`,
    );
  }
  return out;
}

/** A rule broken, in a few words (a tag beside a key). */
export const RULE_LABELS: Record<string, string> = {
  MAX_LIFETIME: 'Lives too long',
  FULL_ACCESS_NEEDS_IP_RULES: 'Full access without IP rules',
  NO_WILDCARD_SCOPES_IN_LIVE: 'Wildcard scope in live',
  ALLOWED_SCOPES: 'Scopes outside the allowed list',
  MAX_GRACE_PERIOD: 'Grace period too long',
};
