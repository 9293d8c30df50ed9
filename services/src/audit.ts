// The audit trail: every management change writes one event in the same
// transaction as the change, so there is never a change without its event (or
// an event without its change). Summaries hold what was asked for — never a
// secret: the only secret, a new key's, exists only in createKey's response.
import { localId } from '@keygate/core';
import { batched } from './batch.ts';
import { type Announcement, clockOf, type KeyChange, type MerchantContext } from './context.ts';
import { type EventEntry, emit } from './events.ts';
import { listPage, type PageArgs } from './lists.ts';
import type { ConnectionQuery } from './pagination.ts';
import type { Prisma } from './prisma.ts';
import type { Transaction } from './transaction.ts';

/** Every audited action: the name of the mutation that made the change. */
export const AUDIT_ACTIONS = [
  'createApplication',
  'updateApplication',
  'setApplicationEnabled',
  'createKey',
  'editKey',
  'revokeKey',
  'setIpRules',
  'rollKey',
  'setKeyEnabled',
  'createWebhookEndpoint',
  'updateWebhookEndpoint',
  'deleteWebhookEndpoint',
  'rotateWebhookSecret',
  'sendTestWebhook',
  'reportLeakedKey',
  'createRole',
  'updateRole',
  'deleteRole',
  'createIdentity',
  'updateIdentity',
  'deleteIdentity',
  'registerImportPrefix',
  'removeImportPrefix',
  'importKeys',
  'setPolicy',
  'applySuggestion',
  'setAnomalyResponses',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry {
  action: AuditAction;
  target: {
    type: 'Application' | 'ApiKey' | 'WebhookEndpoint' | 'Role' | 'Identity' | 'ImportPrefix' | 'KeyPolicy';
    id: string;
  };
  summary: Prisma.InputJsonObject;
  /** The event this change sends to the merchant's webhooks, written in the same transaction. */
  event?: EventEntry;
}

export type { Transaction };

/**
 * Runs `write` and records its audit event in one transaction. When the change
 * alters how keys verify (`changes`), its announcement to every instance is
 * part of the same transaction, and this returns once it has reached them.
 */
export async function recorded<T>(
  ctx: MerchantContext,
  write: (tx: Transaction) => Promise<T>,
  entry: (result: T) => AuditEntry,
  changes?: (result: T) => KeyChange,
): Promise<T> {
  let announcement: Announcement | undefined;
  let result: T;
  try {
    result = await ctx.prisma.$transaction(async (tx) => {
      const written = await write(tx);
      const recordedEntry = entry(written);
      await audit(ctx, tx, recordedEntry);
      if (recordedEntry.event) await emit(tx, ctx.viewer.merchantId, recordedEntry.event, new Date(clockOf(ctx)));
      if (changes) announcement = await ctx.keyChanges.announce(tx, changes(written));
      return written;
    });
  } catch (error) {
    announcement?.cancel();
    throw error;
  }
  await announcement?.settled();
  return result;
}

/** Announces a change outside any write (a retried revocation re-announces it). */
export async function announce(ctx: MerchantContext, change: KeyChange): Promise<void> {
  await (await ctx.keyChanges.announce(ctx.prisma, change)).settled();
}

async function audit(ctx: MerchantContext, tx: Transaction, { action, target, summary }: AuditEntry): Promise<void> {
  await tx.auditEvent.create({
    data: {
      merchantId: ctx.viewer.merchantId,
      actor: ctx.viewer.subject?.slice(0, 256) ?? null,
      action,
      targetType: target.type,
      targetId: target.id,
      requestId: ctx.request?.id ?? null,
      clientIp: ctx.request?.ip ?? null,
      summary,
    },
  });
}

/** The given fields of an input that were actually sent (undefined means "not sent"). */
export function sent(input: object, fields: readonly string[]): Prisma.InputJsonObject {
  const summary: Record<string, Prisma.InputJsonValue | null> = {};
  for (const field of fields) {
    const value = (input as Record<string, unknown>)[field];
    if (value === undefined) continue;
    summary[field] = value instanceof Date ? value.toISOString() : (value as Prisma.InputJsonValue | null);
  }
  return summary as Prisma.InputJsonObject;
}

/**
 * What the fields an input sends held before the change ({} when it sends none), for a trail that
 * reads "renamed 'Staging' to 'Staging checkout'".
 */
export function before(current: object, input: object, fields: readonly string[]): Prisma.InputJsonObject {
  const values: Record<string, Prisma.InputJsonValue | null> = {};
  for (const field of fields) {
    if ((input as Record<string, unknown>)[field] === undefined) continue;
    const value = (current as Record<string, unknown>)[field];
    values[field] = value instanceof Date ? value.toISOString() : ((value ?? null) as Prisma.InputJsonValue | null);
  }
  return values as Prisma.InputJsonObject;
}

/** The summary of an edit: the fields sent, and what they held before under `before`. */
export function edited(current: object, input: object, fields: readonly string[], previous = fields) {
  const was = before(current, input, previous);
  return { ...sent(input, fields), ...(Object.keys(was).length > 0 ? { before: was } : {}) } as Prisma.InputJsonObject;
}

type TargetRow =
  | Awaited<ReturnType<MerchantContext['prisma']['application']['findFirst']>>
  | Awaited<ReturnType<MerchantContext['prisma']['apiKey']['findFirst']>>
  | Awaited<ReturnType<MerchantContext['prisma']['webhookEndpoint']['findFirst']>>
  | Awaited<ReturnType<MerchantContext['prisma']['role']['findFirst']>>
  | Awaited<ReturnType<MerchantContext['prisma']['identity']['findFirst']>>;

/**
 * The application, key or endpoint an event is about, as it is now (null once deleted): the page's
 * targets of one type in one query, scoped by the merchant as every read is.
 */
export async function auditTarget(ctx: MerchantContext, type: string, id: string): Promise<TargetRow> {
  const where = (ids: string[]) => ({ id: { in: ids }, merchantId: ctx.viewer.merchantId });
  const byId = async (rows: Promise<NonNullable<TargetRow>[]>) => new Map((await rows).map((row) => [row.id, row]));
  const load =
    type === 'ApiKey'
      ? (ids: string[]) => byId(ctx.prisma.apiKey.findMany({ where: where(ids) }))
      : type === 'Application'
        ? (ids: string[]) => byId(ctx.prisma.application.findMany({ where: where(ids) }))
        : type === 'WebhookEndpoint'
          ? (ids: string[]) => byId(ctx.prisma.webhookEndpoint.findMany({ where: where(ids) }))
          : type === 'Role'
            ? (ids: string[]) => byId(ctx.prisma.role.findMany({ where: where(ids) }))
            : type === 'Identity'
              ? (ids: string[]) => byId(ctx.prisma.identity.findMany({ where: where(ids) }))
              : null;
  if (load === null) return null;
  return (await batched<NonNullable<TargetRow>>(ctx, `audit-target|${type}`, id, load)) ?? null;
}

export interface AuditFilter {
  action?: string | null;
  /** A global id of an application, key, webhook endpoint, role or identity. */
  targetId?: string | null;
  from?: Date | null;
  to?: Date | null;
}

function auditWhere(ctx: MerchantContext, filter: AuditFilter): Prisma.AuditEventWhereInput {
  // An id that names nothing of this merchant matches nothing, like a missing one.
  const target = filter.targetId
    ? (localId(filter.targetId, 'ApiKey') ??
      localId(filter.targetId, 'Application') ??
      localId(filter.targetId, 'WebhookEndpoint') ??
      localId(filter.targetId, 'Role') ??
      localId(filter.targetId, 'Identity'))
    : undefined;
  return {
    merchantId: ctx.viewer.merchantId,
    ...(filter.action ? { action: filter.action } : {}),
    ...(filter.targetId ? { targetId: target ?? '00000000-0000-0000-0000-000000000000' } : {}),
    ...(filter.from || filter.to
      ? { createdAt: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lt: filter.to } : {}) } }
      : {}),
  };
}

/** A page of the merchant's audit trail, newest first. */
export function listAuditEvents(ctx: MerchantContext, args: AuditFilter & PageArgs, query: ConnectionQuery) {
  return listPage(query, args, ctx.settings.maxPageSize, (page) =>
    ctx.prisma.auditEvent.findMany({
      ...page.query,
      where: { AND: [auditWhere(ctx, args), page.keyset] },
      orderBy: page.orderBy,
    }),
  );
}

export function countAuditEvents(ctx: MerchantContext, filter: AuditFilter): Promise<number> {
  return ctx.prisma.auditEvent.count({ where: auditWhere(ctx, filter) });
}
