// Importing keys a platform already issued, by the hash of their secrets, so that its customers
// keep their keys. A merchant first registers the visible start of those keys (an "import
// prefix", e.g. sk_live_): a presented string that is neither a Keygate key nor starts with a
// registered prefix stays MALFORMED without a database statement. Imported keys then verify,
// roll (to a Keygate key), revoke, meter and report usage like any other.
import { randomBytes } from 'node:crypto';
import { localId } from '@keygate/core';
import { recorded } from './audit.ts';
import { clockOf, type MerchantContext } from './context.ts';
import { KeyLimitReachedError, NotFoundError, ValidationError } from './errors.ts';
import { lockIdentity } from './identities.ts';
import type { CreateKeyInput } from './keys.ts';
import { creditsData, rateLimitsData } from './metering.ts';
import { enforcePolicy } from './policies.ts';
import type { ImportPrefix } from './prisma.ts';

/** Most keys one importKeys call takes. */
export const MAX_IMPORT_BATCH = 1000;
/** Most import prefixes one merchant registers. */
export const MAX_IMPORT_PREFIXES = 20;
export const IMPORT_PREFIX_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$/;

export function listImportPrefixes(ctx: MerchantContext): Promise<ImportPrefix[]> {
  return ctx.prisma.importPrefix.findMany({ where: { merchantId: ctx.viewer.merchantId }, orderBy: { prefix: 'asc' } });
}

/** Registers a prefix (again: nothing changes); every instance knows it before this returns. */
export async function registerImportPrefix(ctx: MerchantContext, prefix: string): Promise<ImportPrefix> {
  const { merchantId } = ctx.viewer;
  checkPrefix(prefix);
  const existing = await ctx.prisma.importPrefix.findUnique({ where: { merchantId_prefix: { merchantId, prefix } } });
  if (existing) return existing;
  return recorded(
    ctx,
    async (tx) => {
      await tx.$queryRaw`SELECT id FROM merchants WHERE id = ${merchantId} FOR UPDATE`;
      if ((await tx.importPrefix.count({ where: { merchantId } })) >= MAX_IMPORT_PREFIXES) {
        throw new ValidationError([
          { path: ['input', 'prefix'], message: `at most ${MAX_IMPORT_PREFIXES} import prefixes; remove one first` },
        ]);
      }
      return tx.importPrefix.upsert({
        where: { merchantId_prefix: { merchantId, prefix } },
        create: { merchantId, prefix },
        update: {},
      });
    },
    (row) => ({
      action: 'registerImportPrefix',
      target: { type: 'ImportPrefix', id: row.id },
      summary: { prefix },
    }),
    () => ({ importPrefixes: { added: [prefix] } }),
  );
}

/**
 * Removes a prefix no imported key of the merchant (that is not revoked) starts with; refused
 * otherwise, as those keys would stop verifying at once.
 */
export async function removeImportPrefix(ctx: MerchantContext, prefix: string): Promise<ImportPrefix> {
  const { merchantId } = ctx.viewer;
  const existing = await ctx.prisma.importPrefix.findUnique({ where: { merchantId_prefix: { merchantId, prefix } } });
  if (!existing) throw new ValidationError([{ path: ['input', 'prefix'], message: 'is not registered' }]);
  let stillRegistered = true;
  return recorded(
    ctx,
    async (tx) => {
      await tx.$queryRaw`SELECT id FROM merchants WHERE id = ${merchantId} FOR UPDATE`;
      const using = await tx.apiKey.count({
        where: { merchantId, imported: true, revokedAt: null, prefix: { startsWith: prefix } },
      });
      if (using > 0) {
        throw new ValidationError([
          {
            path: ['input', 'prefix'],
            message: `${using} imported ${using === 1 ? 'key that is not revoked starts' : 'keys that are not revoked start'} with it; revoke or roll them first`,
          },
        ]);
      }
      await tx.importPrefix.delete({ where: { merchantId_prefix: { merchantId, prefix } } });
      stillRegistered = (await tx.importPrefix.count({ where: { prefix } })) > 0;
      return existing;
    },
    () => ({ action: 'removeImportPrefix', target: { type: 'ImportPrefix', id: existing.id }, summary: { prefix } }),
    // Another merchant may still have it: then every instance keeps it.
    () => (stillRegistered ? {} : { importPrefixes: { removed: [prefix] } }),
  );
}

function checkPrefix(prefix: string): void {
  if (!IMPORT_PREFIX_PATTERN.test(prefix)) {
    throw new ValidationError([
      { path: ['input', 'prefix'], message: '2-32 letters, digits, _ or -, starting with a letter or digit' },
    ]);
  }
  if (prefix.toLowerCase().startsWith('kg_')) {
    throw new ValidationError([{ path: ['input', 'prefix'], message: 'kg_ is the start of Keygate’s own keys' }]);
  }
}

export type HashAlgorithm = 'SHA256_HEX' | 'SHA256_BASE64';

/** A key as createKey takes it (without roles or IP rules, set after), and the hash of its secret. */
export type ImportKeyInput = Omit<CreateKeyInput, 'applicationId' | 'roles' | 'ipRules' | 'ipDefaultAction'> & {
  hash: string;
  hashAlgorithm?: HashAlgorithm | null;
  prefix: string;
};

export interface ImportKeysResult {
  /** Keys created by this call. */
  imported: number;
  /** Keys this application already had with the same hash (an import repeated): left as they are. */
  skipped: number;
}

/** The SHA-256 of a key's secret as lowercase hex, from either encoding; null when it is not one. */
export function hexHash(hash: string, algorithm: HashAlgorithm): string | null {
  if (algorithm === 'SHA256_HEX') return /^[0-9a-fA-F]{64}$/.test(hash) ? hash.toLowerCase() : null;
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(hash)) return null;
  const bytes = Buffer.from(hash.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return bytes.length === 32 ? bytes.toString('hex') : null;
}

/**
 * Imports up to MAX_IMPORT_BATCH keys into an application, all or nothing: every row is checked
 * first (its path names a bad one), then the keys are written in one transaction with one audit
 * event. Idempotent on the hash: a key this application already has is skipped.
 */
export async function importKeys(
  ctx: MerchantContext,
  input: { applicationId: string; keys: readonly ImportKeyInput[] },
): Promise<ImportKeysResult> {
  const { merchantId } = ctx.viewer;
  const applicationId = localId(input.applicationId, 'Application');
  if (!applicationId) throw new NotFoundError('Application', input.applicationId);
  if (input.keys.length > MAX_IMPORT_BATCH) {
    throw new ValidationError([{ path: ['input', 'keys'], message: `at most ${MAX_IMPORT_BATCH} keys per call` }]);
  }
  const prefixes = (await listImportPrefixes(ctx)).map((row) => row.prefix);
  if (prefixes.length === 0 && input.keys.length > 0) {
    throw new ValidationError([
      {
        path: ['input', 'keys'],
        message: 'register the visible start of these keys first (registerImportPrefix, e.g. sk_live_)',
      },
    ]);
  }
  const issues: { path: string[]; message: string }[] = [];
  const seen = new Map<string, number>();
  const rows = input.keys.map((key, index) => {
    const at = (field: string) => ['input', 'keys', String(index), field];
    const hash = hexHash(key.hash, key.hashAlgorithm ?? 'SHA256_HEX');
    if (hash === null) {
      issues.push({
        path: at('hash'),
        message:
          (key.hashAlgorithm ?? 'SHA256_HEX') === 'SHA256_HEX'
            ? 'must be a SHA-256 as 64 hex digits'
            : 'must be a SHA-256 as base64 (43 characters and an optional =)',
      });
    } else if (seen.has(hash)) {
      issues.push({ path: at('hash'), message: `the same key as keys.${seen.get(hash)}` });
    } else seen.set(hash, index);
    if (!prefixes.some((prefix) => key.prefix.startsWith(prefix)) || key.prefix.length > 32) {
      issues.push({
        path: at('prefix'),
        message: `must start with a registered import prefix (${prefixes.join(', ')}) and be at most 32 characters`,
      });
    }
    return { key, hash: hash ?? '', index };
  });
  if (issues.length > 0) throw new ValidationError(issues);
  const now = clockOf(ctx);
  return recorded(
    ctx,
    async (tx) => {
      const locked = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM applications WHERE id = ${applicationId}::uuid AND merchant_id = ${merchantId} FOR UPDATE`;
      if (locked.length === 0) throw new NotFoundError('Application', input.applicationId);
      const hashes = rows.map((row) => row.hash);
      const existing = await tx.$queryRaw<{ hash: string; here: boolean }[]>`
        SELECT hash::text AS hash, (application_id = ${applicationId}::uuid AND merchant_id = ${merchantId}) AS here
        FROM api_keys WHERE hash = ANY(${hashes}::bpchar[])`;
      const known = new Map(existing.map((row) => [row.hash.trim(), row.here]));
      const elsewhere = rows.filter((row) => known.get(row.hash) === false);
      if (elsewhere.length > 0) {
        throw new ValidationError(
          elsewhere.map((row) => ({
            path: ['input', 'keys', String(row.index), 'hash'],
            message: 'a key with this hash exists elsewhere; it cannot be imported here',
          })),
        );
      }
      const fresh = rows.filter((row) => !known.has(row.hash));
      const held = await tx.apiKey.count({ where: { applicationId, revokedAt: null } });
      const limit = ctx.settings.maxKeysPerApplication;
      if (held + fresh.length > limit) throw new KeyLimitReachedError(limit);
      const identities = new Map<string, string | null>();
      for (const { key } of fresh) {
        if (key.identityId && !identities.has(key.identityId)) {
          identities.set(key.identityId, await lockIdentity(tx, merchantId, key.identityId));
        }
      }
      const ids = fresh.map(() => uuidV7(now));
      if (fresh.length > 0) {
        // One INSERT from one JSON parameter: a thousand rows through the ORM took about a second.
        const values = fresh.map(({ key, hash }, i) => {
          const credits = creditsData(key.credits ?? null, now);
          return {
            id: ids[i]!,
            name: key.name,
            website_url: key.websiteUrl ?? null,
            prefix: key.prefix,
            hash,
            access: key.access ?? 'READ_ONLY',
            scopes: key.scopes ?? [],
            environment: key.environment ?? 'LIVE',
            expires_at: key.expiresAt?.toISOString() ?? null,
            credits_remaining: credits.creditsRemaining,
            refill_amount: credits.refillAmount,
            refill_interval: credits.refillInterval,
            refill_day: credits.refillDay,
            refilled_at: credits.refilledAt?.toISOString() ?? null,
            rate_limits: rateLimitsData(key.rateLimits ?? null),
            metadata: key.metadata === undefined || key.metadata === null ? null : JSON.stringify(key.metadata),
            external_id: key.externalId ?? null,
            identity_id: key.identityId ? (identities.get(key.identityId) ?? null) : null,
          };
        });
        await tx.$executeRaw`
          INSERT INTO api_keys (id, merchant_id, application_id, name, website_url, prefix, hash, access, scopes,
            environment, expires_at, credits_remaining, refill_amount, refill_interval, refill_day, refilled_at,
            rate_limits, metadata, external_id, identity_id, imported, updated_at)
          SELECT r.id, ${merchantId}, ${applicationId}::uuid, r.name, r.website_url, r.prefix, r.hash,
            r.access::"KeyAccess", r.scopes, r.environment::"KeyEnvironment", r.expires_at, r.credits_remaining,
            r.refill_amount, r.refill_interval::"RefillInterval", r.refill_day, r.refilled_at, r.rate_limits,
            r.metadata::json, r.external_id, r.identity_id, true, now()
          FROM jsonb_to_recordset(${JSON.stringify(values)}::jsonb) AS r(id uuid, name text, website_url text,
            prefix text, hash text, access text, scopes text[], environment text, expires_at timestamptz,
            credits_remaining int, refill_amount int, refill_interval text, refill_day int, refilled_at timestamptz,
            rate_limits jsonb, metadata text, external_id text, identity_id uuid)`;
      }
      await enforcePolicy(ctx, tx, {
        keys: fresh.map((row, i) => ({ id: ids[i]!, path: ['input', 'keys', String(row.index)] })),
      });
      return { imported: fresh.length, skipped: rows.length - fresh.length };
    },
    (result) => ({
      action: 'importKeys',
      target: { type: 'Application', id: applicationId },
      summary: {
        imported: result.imported,
        skipped: result.skipped,
        prefixes: [...new Set(rows.map((row) => prefixes.find((prefix) => row.key.prefix.startsWith(prefix))!))],
      },
    }),
    // A hash remembered as unknown may be one of these keys now.
    () => ({ misses: true }),
  );
}

/** A time-ordered UUID (version 7), as the schema's ids are: 48 bits of milliseconds, then random. */
function uuidV7(now: number): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
