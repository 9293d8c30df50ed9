// The audit trail: every management change writes one event in the same
// transaction as the change, so there is never a change without its event (or
// an event without its change). Summaries hold what was asked for — never a
// secret: the only secret, a new key's, exists only in createKey's response.
import type { Context } from './context.ts';
import type { Prisma, PrismaClient } from './prisma.ts';

export type AuditAction =
  | 'createApplication'
  | 'updateApplication'
  | 'setApplicationEnabled'
  | 'createKey'
  | 'editKey'
  | 'revokeKey'
  | 'setIpRules';

export interface AuditEntry {
  action: AuditAction;
  target: { type: 'Application' | 'ApiKey'; id: string };
  summary: Prisma.InputJsonObject;
}

type Transaction = Omit<PrismaClient, '$connect' | '$disconnect' | '$on' | '$transaction' | '$extends'>;

/** Runs `write` and records its audit event in one transaction. */
export function recorded<T>(
  ctx: Context,
  write: (tx: Transaction) => Promise<T>,
  entry: (result: T) => AuditEntry,
): Promise<T> {
  return ctx.prisma.$transaction(async (tx) => {
    const result = await write(tx);
    const { action, target, summary } = entry(result);
    await tx.auditEvent.create({
      data: {
        merchantId: ctx.viewer!.merchantId,
        actor: ctx.viewer!.subject?.slice(0, 256) ?? null,
        action,
        targetType: target.type,
        targetId: target.id,
        requestId: ctx.request?.id ?? null,
        clientIp: ctx.request?.ip ?? null,
        summary,
      },
    });
    return result;
  });
}

/** The given fields of an input that were actually sent (undefined means "not sent"). */
export function sent(input: Record<string, unknown>, fields: readonly string[]): Prisma.InputJsonObject {
  const summary: Record<string, Prisma.InputJsonValue | null> = {};
  for (const field of fields) {
    const value = input[field];
    if (value === undefined) continue;
    summary[field] = value instanceof Date ? value.toISOString() : (value as Prisma.InputJsonValue | null);
  }
  return summary as Prisma.InputJsonObject;
}
