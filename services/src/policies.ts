// Key policies: the rules a merchant (or, by default, the operator) sets on the keys that may
// exist. Core judges a key against a policy; this loads the policy, judges keys as written by a
// change (inside its transaction, so a refused change leaves nothing behind) and lists the
// existing keys a policy would refuse. A policy never changes an existing key.
import { type KeyPolicy, type PolicyRule, type PolicyViolation, policyViolations } from '@keygate/core';
import { recorded, type Transaction } from './audit.ts';
import type { MerchantContext } from './context.ts';
import { PolicyViolationError, type PolicyViolationIssue } from './errors.ts';
import { Prisma } from './prisma.ts';

export type PolicySource = 'MERCHANT' | 'PLATFORM_DEFAULT' | 'NONE';

export interface EffectivePolicy {
  rules: KeyPolicy;
  source: PolicySource;
  /** When the merchant last set it; null for the operator's default or none. */
  updatedAt: Date | null;
}

type Db = Pick<Transaction, '$queryRaw' | 'keyPolicy'>;

/** The policy keys of this merchant follow: its own, else the operator's default, else none. */
export async function effectivePolicy(ctx: MerchantContext, db: Db = ctx.prisma): Promise<EffectivePolicy> {
  const row = await db.keyPolicy.findUnique({ where: { merchantId: ctx.viewer.merchantId } });
  if (row?.rules) return { rules: row.rules as KeyPolicy, source: 'MERCHANT', updatedAt: row.updatedAt };
  const fallback = ctx.settings.defaultKeyPolicy;
  if (fallback && hasRules(fallback)) return { rules: fallback, source: 'PLATFORM_DEFAULT', updatedAt: null };
  return { rules: {}, source: 'NONE', updatedAt: null };
}

/** Whether a policy has any rule at all (an empty one judges nothing and costs nothing). */
export function hasRules(policy: KeyPolicy): boolean {
  return (
    policy.maxLifetimeDays?.live != null ||
    policy.maxLifetimeDays?.test != null ||
    policy.fullAccessRequiresIpRules === true ||
    policy.noWildcardScopesInLive === true ||
    policy.allowedScopes != null ||
    policy.maxGracePeriodSeconds != null
  );
}

/** The key fields (input names) whose change can break each rule, for changes to an existing key. */
export const RULE_FIELDS: Record<PolicyRule, readonly string[]> = {
  MAX_LIFETIME: ['expiresAt'],
  FULL_ACCESS_NEEDS_IP_RULES: ['access', 'rules', 'defaultAction'],
  NO_WILDCARD_SCOPES_IN_LIVE: ['scopes', 'roles'],
  ALLOWED_SCOPES: ['scopes', 'roles'],
  MAX_GRACE_PERIOD: ['gracePeriodSeconds'],
};

export interface JudgedKey {
  id: string;
  violations: PolicyViolation[];
}

interface SubjectRow {
  id: string;
  environment: 'LIVE' | 'TEST';
  access: 'READ_ONLY' | 'FULL_ACCESS';
  scopes: string[];
  role_scopes: string[] | null;
  expires_at: Date | null;
  created_at: Date;
  ip_default_action: 'ALLOW' | 'DENY';
  ip_rules: number;
}

/** What a policy judges of keys, as stored: effective scopes (own and roles'), IP rules, expiry. */
function subjects(db: Db, where: Prisma.Sql, limit: number): Promise<SubjectRow[]> {
  return db.$queryRaw<SubjectRow[]>`
    SELECT k.id::text AS id, k.environment::text AS environment, k.access::text AS access, k.scopes,
      (SELECT array_agg(DISTINCT s) FROM key_roles kr JOIN roles ro ON ro.id = kr.role_id, unnest(ro.scopes) s
        WHERE kr.key_id = k.id) AS role_scopes,
      k.expires_at, k.created_at, k.ip_default_action::text AS ip_default_action,
      (SELECT count(*)::int FROM ip_rules r WHERE r.key_id = k.id) AS ip_rules
    FROM api_keys k WHERE ${where} ORDER BY k.id DESC LIMIT ${limit}`;
}

function judge(policy: KeyPolicy, row: SubjectRow, change: { gracePeriodSeconds?: number } = {}): PolicyViolation[] {
  return policyViolations(
    policy,
    {
      environment: row.environment,
      access: row.access,
      scopes: [...new Set([...row.scopes, ...(row.role_scopes ?? [])])],
      expiresAt: row.expires_at?.getTime() ?? null,
      createdAt: row.created_at.getTime(),
      ipRuleCount: row.ip_rules,
      ipDefaultAction: row.ip_default_action,
    },
    change,
  );
}

export interface Enforcement {
  /** The key(s) as the change wrote them, with the input path each one's fields sit under. */
  keys: { id: string; path: string[] }[];
  /** For a change to an existing key: the input fields sent (only rules about them refuse it). */
  sent?: readonly string[];
  /** A roll's grace period. */
  gracePeriodSeconds?: number;
  /** Renames a key field to the input field that sets it (setIpRules: access → rules). */
  fieldOf?: Partial<Record<string, string>>;
}

/**
 * Judges keys as a change has just written them, inside its transaction: any violation throws
 * PolicyViolationError (naming each rule and input path) and the transaction rolls back.
 */
export async function enforcePolicy(ctx: MerchantContext, tx: Db, enforcement: Enforcement): Promise<void> {
  const { rules } = await effectivePolicy(ctx, tx);
  if (!hasRules(rules) || enforcement.keys.length === 0) return;
  const paths = new Map(enforcement.keys.map((key) => [key.id, key.path]));
  const rows = await subjects(
    tx,
    Prisma.sql`k.id = ANY(${[...paths.keys()]}::uuid[]) AND k.merchant_id = ${ctx.viewer.merchantId}`,
    paths.size,
  );
  const issues: PolicyViolationIssue[] = [];
  // In the input's order (an import's rows by index); Map keys keep insertion order.
  const order = new Map([...paths.keys()].map((id, index) => [id, index]));
  rows.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  for (const row of rows) {
    const change =
      enforcement.gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds: enforcement.gracePeriodSeconds };
    for (const violation of judge(rules, row, change)) {
      if (enforcement.sent && !RULE_FIELDS[violation.rule].some((field) => enforcement.sent!.includes(field))) continue;
      const field = enforcement.fieldOf?.[violation.field] ?? violation.field;
      issues.push({ ...violation, field, path: [...paths.get(row.id)!, field] });
    }
  }
  if (issues.length > 0) throw new PolicyViolationError(issues);
}

/** The rules a role's scopes can break, through the keys that have the role. */
const ROLE_RULES: readonly PolicyRule[] = ['NO_WILDCARD_SCOPES_IN_LIVE', 'ALLOWED_SCOPES'];

/**
 * Changes a role's scopes (`change`, inside the transaction), then judges the scopes it gains
 * against the policy's scope rules for each of the role's keys (not revoked, not expired): a
 * policy bounds what keys may do, and a role's scopes are part of each key's. Only what is added
 * is judged, so a key that breaks a rule by its own scopes neither blocks the role's other
 * changes nor lets the role give it more of what the rule forbids.
 */
export async function enforceRoleScopes<T>(
  ctx: MerchantContext,
  tx: Db,
  roleId: string,
  scopes: readonly string[],
  change: () => Promise<T>,
): Promise<T> {
  // The scopes it has, held until the transaction ends: what it gains is against these.
  const [held] = await tx.$queryRaw<{ scopes: string[] }[]>`
    SELECT scopes FROM roles WHERE id = ${roleId}::uuid AND merchant_id = ${ctx.viewer.merchantId} FOR UPDATE`;
  const had = new Set(held?.scopes ?? []);
  const added = [...new Set(scopes)].filter((scope) => !had.has(scope));
  const result = await change();
  if (added.length === 0) return result;
  const { rules } = await effectivePolicy(ctx, tx);
  if (rules.allowedScopes == null && rules.noWildcardScopesInLive !== true) return result;
  // After the change: a key given the role meanwhile held the role's row, so it is seen here.
  const rows = await subjects(
    tx,
    Prisma.sql`k.merchant_id = ${ctx.viewer.merchantId} AND k.revoked_at IS NULL
      AND (k.expires_at IS NULL OR k.expires_at > now())
      AND k.id IN (SELECT kr.key_id FROM key_roles kr WHERE kr.role_id = ${roleId}::uuid)`,
    ROLE_KEYS_JUDGED,
  );
  // Per rule, what the added scopes break, said once with how many keys.
  const broken = new Map<PolicyRule, { violation: PolicyViolation; keys: number }>();
  for (const row of rows) {
    for (const violation of judge(rules, { ...row, scopes: [...added], role_scopes: null })) {
      if (!ROLE_RULES.includes(violation.rule)) continue;
      const seen = broken.get(violation.rule);
      if (seen) seen.keys++;
      else broken.set(violation.rule, { violation, keys: 1 });
    }
  }
  if (broken.size > 0) {
    throw new PolicyViolationError(
      [...broken.values()].map(({ violation, keys }) => ({
        ...violation,
        field: 'scopes',
        path: ['input', 'scopes'],
        message: `${violation.message}, for ${keys === 1 ? 'the key' : `the ${keys} keys`} with this role`,
      })),
    );
  }
  return result;
}

/** The most keys of one role judged when its scopes change. */
const ROLE_KEYS_JUDGED = 1_000_000;

/** Keys a scan reads per query. */
const SCAN_BATCH = 2000;

/**
 * Every key of the merchant that is not revoked and has not expired and breaks `policy`, newest
 * first: read in batches, so a merchant with many keys is judged without holding them all. Only
 * keys that can break a rule are read and judged (`mayBreak`); `everyKey` judges them all (tests
 * compare the two).
 */
export async function keysOutOfPolicy(
  ctx: MerchantContext,
  policy: KeyPolicy,
  { everyKey = false }: { everyKey?: boolean } = {},
): Promise<JudgedKey[]> {
  if (!hasRules(policy)) return [];
  const out: JudgedKey[] = [];
  const filter = everyKey ? Prisma.sql`TRUE` : mayBreak(policy);
  let before: string | null = null;
  for (;;) {
    const keyset: Prisma.Sql = before === null ? Prisma.sql`TRUE` : Prisma.sql`k.id < ${before}::uuid`;
    const rows = await subjects(
      ctx.prisma,
      Prisma.sql`k.merchant_id = ${ctx.viewer.merchantId} AND k.revoked_at IS NULL
        AND (k.expires_at IS NULL OR k.expires_at > now()) AND ${keyset} AND (${filter})`,
      SCAN_BATCH,
    );
    for (const row of rows) {
      const violations = judge(policy, row);
      if (violations.length > 0) out.push({ id: row.id, violations });
    }
    if (rows.length < SCAN_BATCH) return out;
    before = rows.at(-1)!.id;
  }
}

/**
 * Keys that can break one of the policy's rules, as SQL: every key that breaks one is among them
 * (policyViolations then judges each exactly). The overview asks on every load; judging every key
 * with its roles' scopes and IP rules read one key at a time took 190–280 ms for a merchant of
 * 10,000 conforming keys. Keys with roles are always read (their scopes are the roles' too).
 */
function mayBreak(policy: KeyPolicy): Prisma.Sql {
  const hasRoles = Prisma.sql`EXISTS (SELECT 1 FROM key_roles kr WHERE kr.key_id = k.id)`;
  const parts: Prisma.Sql[] = [];
  for (const [environment, days] of [
    ['LIVE', policy.maxLifetimeDays?.live],
    ['TEST', policy.maxLifetimeDays?.test],
  ] as const) {
    if (days == null) continue;
    parts.push(Prisma.sql`(k.environment = ${environment}::"KeyEnvironment" AND (k.expires_at IS NULL
      OR k.expires_at >= k.created_at + ${days} * interval '86400 seconds'))`);
  }
  if (policy.fullAccessRequiresIpRules) {
    parts.push(Prisma.sql`(k.access = 'FULL_ACCESS' AND k.ip_default_action = 'ALLOW'
      AND NOT EXISTS (SELECT 1 FROM ip_rules r WHERE r.key_id = k.id))`);
  }
  if (policy.noWildcardScopesInLive) {
    parts.push(Prisma.sql`(k.environment = 'LIVE' AND (EXISTS (SELECT 1 FROM unnest(k.scopes) AS s WHERE s LIKE '%*')
      OR ${hasRoles}))`);
  }
  if (policy.allowedScopes != null) {
    // A scope listed as it is allowed is covered; anything else (a narrower wildcard, a scope under
    // an allowed wildcard, no scopes at all) is judged.
    parts.push(Prisma.sql`(cardinality(k.scopes) = 0 OR NOT (k.scopes <@ ${[...policy.allowedScopes]}::text[])
      OR ${hasRoles})`);
  }
  // MAX_GRACE_PERIOD judges a roll being made, never a key as it is.
  return parts.length === 0 ? Prisma.sql`FALSE` : Prisma.join(parts, ' OR ');
}

/**
 * Sets the merchant's policy (audited), or with `dryRun` changes nothing and only answers what it
 * would be. Existing keys stay as they are either way; what breaks it is listed, not changed.
 */
export async function setPolicy(ctx: MerchantContext, rules: KeyPolicy, dryRun: boolean): Promise<EffectivePolicy> {
  const stored = normalized(rules);
  if (dryRun) return { rules: stored, source: 'MERCHANT', updatedAt: null };
  const previous = await effectivePolicy(ctx);
  const row = await recorded(
    ctx,
    (tx) =>
      tx.keyPolicy.upsert({
        where: { merchantId: ctx.viewer.merchantId },
        create: { merchantId: ctx.viewer.merchantId, rules: stored as Prisma.InputJsonObject },
        update: { rules: stored as Prisma.InputJsonObject },
      }),
    (written) => ({
      action: 'setPolicy',
      target: { type: 'KeyPolicy', id: written.id },
      summary: {
        rules: stored as Prisma.InputJsonObject,
        before: { source: previous.source, rules: normalized(previous.rules) as Prisma.InputJsonObject },
      },
    }),
  );
  return { rules: stored, source: 'MERCHANT', updatedAt: row.updatedAt };
}

/** A policy with every rule spelled out (null: no such rule), so stored and audited forms compare. */
export function normalized(policy: KeyPolicy): KeyPolicy {
  return {
    maxLifetimeDays: { live: policy.maxLifetimeDays?.live ?? null, test: policy.maxLifetimeDays?.test ?? null },
    fullAccessRequiresIpRules: policy.fullAccessRequiresIpRules ?? false,
    noWildcardScopesInLive: policy.noWildcardScopesInLive ?? false,
    allowedScopes: policy.allowedScopes ?? null,
    maxGracePeriodSeconds: policy.maxGracePeriodSeconds ?? null,
  };
}
