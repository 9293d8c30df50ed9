// auditEvents: the merchant's audit trail, newest first.

import { globalId, localId } from '@keygate/core';
import { builder } from '../builder.ts';
import type { MerchantContext } from '../context.ts';
import { checkPageSize, keysetQuery, newestFirst } from '../pagination.ts';
import type { Prisma } from '../prisma.ts';
import { AUDIT_ACTIONS } from '../services/audit.ts';

builder.scalarType('JSON', {
  description: 'Any JSON value',
  serialize: (value) => value,
  parseValue: (value) => value,
});

const AuditAction = builder.enumType('AuditAction', { values: AUDIT_ACTIONS });

const AuditEvent = builder.prismaObject('AuditEvent', {
  description: 'One management change, recorded in the same transaction as the change',
  fields: (t) => ({
    id: t.exposeID('id'),
    action: t.field({ type: AuditAction, resolve: (event) => event.action as typeof AuditAction.$inferType }),
    targetType: t.exposeString('targetType', { description: 'Application, ApiKey or WebhookEndpoint' }),
    targetId: t.id({
      resolve: (event) => globalId(event.targetType as 'Application' | 'ApiKey' | 'WebhookEndpoint', event.targetId),
    }),
    actor: t.exposeString('actor', { nullable: true, description: 'The JWT subject that made the change' }),
    requestId: t.exposeString('requestId', { nullable: true }),
    clientIp: t.exposeString('clientIp', { nullable: true }),
    summary: t.field({
      type: 'JSON',
      description: 'What was asked for (never a secret)',
      resolve: (event) => event.summary,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

interface AuditFilter {
  action?: string | null;
  targetId?: string | null;
  from?: Date | null;
  to?: Date | null;
}

function auditFilter(ctx: MerchantContext, args: AuditFilter): Prisma.AuditEventWhereInput {
  // An id that names nothing of this merchant matches nothing, like a missing one.
  const target = args.targetId
    ? (localId(args.targetId, 'ApiKey') ??
      localId(args.targetId, 'Application') ??
      localId(args.targetId, 'WebhookEndpoint'))
    : undefined;
  return {
    merchantId: ctx.viewer.merchantId,
    ...(args.action ? { action: args.action } : {}),
    ...(args.targetId ? { targetId: target ?? '00000000-0000-0000-0000-000000000000' } : {}),
    ...(args.from || args.to
      ? { createdAt: { ...(args.from ? { gte: args.from } : {}), ...(args.to ? { lt: args.to } : {}) } }
      : {}),
  };
}

builder.queryField('auditEvents', (t) =>
  t.withAuth({ merchant: true }).prismaConnection(
    {
      type: AuditEvent,
      cursor: 'id',
      description: "The merchant's audit trail, newest first",
      args: {
        action: t.arg({ type: AuditAction, required: false }),
        targetId: t.arg.id({ required: false, description: 'Only events about this application or key' }),
        from: t.arg({ type: 'DateTime', required: false, description: 'At or after this time' }),
        to: t.arg({ type: 'DateTime', required: false, description: 'Before this time' }),
      },
      resolve: (rawQuery, _root, args, ctx) => {
        checkPageSize(args, ctx.settings.maxPageSize);
        const { query, where } = keysetQuery(rawQuery);
        return ctx.prisma.auditEvent.findMany({
          ...query,
          where: { AND: [auditFilter(ctx, args), where] },
          orderBy: newestFirst,
        });
      },
      totalCount: (_root, args, ctx) => ctx.prisma.auditEvent.count({ where: auditFilter(ctx, args) }),
    },
    { name: 'AuditEventConnection' },
    { name: 'AuditEventEdge' },
  ),
);
