// Least privilege from observed use: what a key's valid verifications actually needed over a
// window (key_observations, written with the usage counts), and the narrowest key that would
// still have passed them all. A key unused for the window is suggested for revocation.
// applySuggestion narrows (or revokes) only if nothing needing more was observed since.
import { type Access, Grants } from '@keygate/core';
import { recorded } from './audit.ts';
import { clockOf, type MerchantContext } from './context.ts';
import { KeygateError, KeyRevokedError, NotFoundError, ValidationError } from './errors.ts';
import { keyEventData } from './events.ts';
import { findKey, revokeKey, updateUnrevokedKey } from './keys.ts';
import type { ApiKey } from './prisma.ts';

/** The window observations are read over, unless the server sets another. */
export const DEFAULT_WINDOW_DAYS = 30;
const DAY_MS = 86_400_000;

export interface ObservedScope {
  scope: string;
  count: number;
  firstSeen: Date;
  lastSeen: Date;
}

export interface Evidence {
  /** Valid verifications in the window. */
  verifications: number;
  /** Of them, those that needed reading only, and writing. */
  readOnly: number;
  fullAccess: number;
  firstSeen: Date | null;
  lastSeen: Date | null;
  /** The scopes they named that the key grants, most used first. */
  scopes: ObservedScope[];
}

export interface Suggestion {
  /** Names this suggestion for applySuggestion: what it would set. */
  id: string;
  kind: 'NARROW' | 'REVOKE_UNUSED';
  /** The access and own scopes it would give the key (a revocation: as they are). */
  access: Access;
  scopes: string[];
  windowDays: number;
  evidence: Evidence;
  message: string;
}

/** Refused: use that needs more than the suggestion allows was observed since it was made. */
export class SuggestionOutdatedError extends KeygateError {
  override readonly code = 'SUGGESTION_OUTDATED';
  constructor(
    readonly keyId: string,
    message: string,
  ) {
    super(message);
  }
}

const windowOf = (ctx: MerchantContext) => ctx.settings.observationWindowDays ?? DEFAULT_WINDOW_DAYS;

/** What the key's valid verifications needed over the window ending now. */
export async function observedUse(ctx: MerchantContext, keyId: string, since: Date): Promise<Evidence> {
  const [totals] = await ctx.prisma.$queryRaw<
    { read: bigint | null; write: bigint | null; first: Date | null; last: Date | null }[]
  >`
    SELECT sum(read_count) AS read, sum(write_count) AS write,
      min(hour) FILTER (WHERE read_count + write_count > 0) AS first,
      max(hour) FILTER (WHERE read_count + write_count > 0) AS last
    FROM key_observations WHERE key_id = ${keyId}::uuid AND hour >= ${since}`;
  const scopes = await ctx.prisma.$queryRaw<{ scope: string; count: bigint; first: Date; last: Date }[]>`
    SELECT s.key AS scope, sum(s.value::bigint) AS count, min(o.hour) AS first, max(o.hour) AS last
    FROM key_observations o, jsonb_each_text(o.scopes) AS s
    WHERE o.key_id = ${keyId}::uuid AND o.hour >= ${since}
    GROUP BY s.key ORDER BY count DESC, s.key`;
  const readOnly = Number(totals?.read ?? 0);
  const fullAccess = Number(totals?.write ?? 0);
  return {
    verifications: readOnly + fullAccess,
    readOnly,
    fullAccess,
    firstSeen: totals?.first ?? null,
    lastSeen: totals?.last ?? null,
    scopes: scopes.map((row) => ({
      scope: row.scope,
      count: Number(row.count),
      firstSeen: row.first,
      lastSeen: row.last,
    })),
  };
}

async function roleScopes(ctx: MerchantContext, keyId: string): Promise<string[]> {
  const rows = await ctx.prisma.keyRole.findMany({
    where: { keyId, merchantId: ctx.viewer.merchantId },
    include: { role: { select: { scopes: true } } },
  });
  return [...new Set(rows.flatMap((row) => row.role.scopes))];
}

/**
 * The suggestion for a key, or null: when it is revoked or expired, younger than the window
 * (too little evidence), or already as narrow as its use.
 */
export async function suggestionFor(ctx: MerchantContext, key: ApiKey): Promise<Suggestion | null> {
  const now = clockOf(ctx);
  if (key.revokedAt || (key.expiresAt && key.expiresAt.getTime() <= now)) return null;
  const days = windowOf(ctx);
  if (now - key.createdAt.getTime() < days * DAY_MS) return null;
  const evidence = await observedUse(ctx, key.id, new Date(now - days * DAY_MS));
  const current = { access: key.access, scopes: [...key.scopes].sort() };
  if (evidence.verifications === 0) {
    return {
      id: suggestionId('REVOKE_UNUSED', current.access, current.scopes),
      kind: 'REVOKE_UNUSED',
      ...current,
      windowDays: days,
      evidence,
      message: `No verification passed with this key in ${days} days: revoke it, one secret fewer to leak.`,
    };
  }
  const fromRoles = await roleScopes(ctx, key.id);
  const effective = [...new Set([...key.scopes, ...fromRoles])];
  const grants = new Grants(effective);
  // What was needed and is granted (a key with no scope at all grants everything).
  const needed = evidence.scopes
    .map((entry) => entry.scope)
    .filter((scope) => effective.length === 0 || grants.covers(scope));
  const roleGrants = new Grants(fromRoles);
  const access: Access = evidence.fullAccess > 0 ? key.access : 'READ_ONLY';
  // Own scopes to keep: what was needed, less what roles grant anyway. Nothing named: leave them.
  const scopes =
    needed.length === 0
      ? current.scopes
      : needed.filter((scope) => fromRoles.length === 0 || !roleGrants.covers(scope)).sort();
  const narrowerAccess = access !== key.access;
  const narrowerScopes = JSON.stringify(scopes) !== JSON.stringify(current.scopes);
  if (!narrowerAccess && !narrowerScopes) return null;
  const had = `${key.access}${key.scopes.length === 0 ? (fromRoles.length === 0 ? ' with no scope limit' : '') : ` with ${key.scopes.join(', ')}`}`;
  const used = [
    evidence.fullAccess > 0 ? 'FULL_ACCESS' : 'READ_ONLY',
    ...(needed.length > 0 ? [needed.join(', ')] : []),
  ].join(' and ');
  const to = [
    ...(narrowerAccess ? [access] : []),
    ...(narrowerScopes ? [scopes.length === 0 ? 'only its roles’ scopes' : scopes.join(', ')] : []),
  ].join(' and ');
  return {
    id: suggestionId('NARROW', access, scopes),
    kind: 'NARROW',
    access,
    scopes,
    windowDays: days,
    evidence,
    message: `Only ${used} ${needed.length === 0 ? 'was' : 'were'} needed in ${days} days (${evidence.verifications.toLocaleString('en-US')} verifications): narrow this ${had} key to ${to}.`,
  };
}

function suggestionId(kind: Suggestion['kind'], access: Access, scopes: string[]): string {
  return Buffer.from(JSON.stringify([kind, access, scopes]), 'utf8').toString('base64url');
}

function parseSuggestionId(id: string): { kind: Suggestion['kind']; access: Access; scopes: string[] } | null {
  try {
    const [kind, access, scopes] = JSON.parse(Buffer.from(id, 'base64url').toString('utf8')) as unknown[];
    if (kind !== 'NARROW' && kind !== 'REVOKE_UNUSED') return null;
    if (access !== 'READ_ONLY' && access !== 'FULL_ACCESS') return null;
    if (!Array.isArray(scopes) || scopes.length > 200 || !scopes.every((scope) => typeof scope === 'string'))
      return null;
    return { kind, access, scopes: scopes as string[] };
  } catch {
    return null;
  }
}

/**
 * Applies a suggestion as it was shown (its id): narrows the key to it, or revokes an unused key.
 * Refused with SuggestionOutdatedError when use observed in the window needs more than it allows.
 */
export async function applySuggestion(ctx: MerchantContext, keyId: string, id: string): Promise<ApiKey> {
  const key = await findKey(ctx, keyId);
  if (!key) throw new NotFoundError('ApiKey', keyId);
  if (key.revokedAt) throw new KeyRevokedError(keyId, key.revokedAt, 'change');
  const wanted = parseSuggestionId(id);
  if (!wanted) throw new ValidationError([{ path: ['input', 'suggestionId'], message: 'is not a suggestion' }]);
  const now = clockOf(ctx);
  const evidence = await observedUse(ctx, key.id, new Date(now - windowOf(ctx) * DAY_MS));
  if (wanted.kind === 'REVOKE_UNUSED') {
    if (evidence.verifications > 0) {
      throw new SuggestionOutdatedError(
        keyId,
        `The key was used since (${evidence.verifications.toLocaleString('en-US')} verifications, last ${evidence.lastSeen?.toISOString()}): it is not revoked`,
      );
    }
    return revokeKey(ctx, keyId, { action: 'applySuggestion', kind: wanted.kind });
  }
  const fromRoles = await roleScopes(ctx, key.id);
  const allowed = new Grants([...wanted.scopes, ...fromRoles]);
  const effective = new Grants([...key.scopes, ...fromRoles]);
  // A suggestion with no own scope and no role limits nothing by scope; otherwise every scope the
  // key granted and was needed must stay granted.
  const limits = wanted.scopes.length > 0 || fromRoles.length > 0;
  const granted = (scope: string) => (key.scopes.length === 0 && fromRoles.length === 0) || effective.covers(scope);
  const beyond = limits ? evidence.scopes.filter((entry) => granted(entry.scope) && !allowed.covers(entry.scope)) : [];
  const reasons = [
    ...(wanted.access === 'READ_ONLY' && evidence.fullAccess > 0
      ? [`${evidence.fullAccess.toLocaleString('en-US')} verifications needed FULL_ACCESS`]
      : []),
    ...beyond.map((entry) => `${entry.scope} was needed (last ${entry.lastSeen.toISOString()})`),
  ];
  if (reasons.length > 0) {
    throw new SuggestionOutdatedError(keyId, `Use since needs more than this suggestion allows: ${reasons.join('; ')}`);
  }
  if (wanted.access === 'FULL_ACCESS' && key.access === 'READ_ONLY') {
    throw new SuggestionOutdatedError(keyId, 'The key changed since: the suggestion would widen it');
  }
  return recorded(
    ctx,
    // A narrowing breaks no policy rule a key did not break before (less access, fewer scopes, no
    // new wildcard): it is never refused for one, so a key out of policy can always be narrowed.
    (tx) => updateUnrevokedKey(tx, key.id, keyId, 'change', { access: wanted.access, scopes: wanted.scopes }),
    (narrowed) => ({
      action: 'applySuggestion',
      event: { type: 'KEY_UPDATED', data: keyEventData(narrowed) },
      target: { type: 'ApiKey', id: key.id },
      summary: {
        kind: wanted.kind,
        access: wanted.access,
        scopes: wanted.scopes,
        evidence: { verifications: evidence.verifications, fullAccess: evidence.fullAccess },
        before: { access: key.access, scopes: key.scopes },
      },
    }),
    () => ({ keyIds: [key.id] }),
  );
}
