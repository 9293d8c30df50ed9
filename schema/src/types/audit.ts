// auditEvents: the merchant's audit trail, newest first.

import { globalId } from '@keygate/core';
import * as audit from '@keygate/services/audit';
import type { MerchantContext } from '@keygate/services/context';
import { builder, pageSize } from '../builder.ts';
import { ApiKey } from './api-key.ts';
import { Application } from './application.ts';
import { Identity } from './identity.ts';
import { Role } from './role.ts';
import { WebhookEndpoint } from './webhooks.ts';

builder.scalarType('JSON', {
  description: 'Any JSON value',
  serialize: (value) => value,
  parseValue: (value) => value,
});

const AuditAction = builder.enumType('AuditAction', { values: audit.AUDIT_ACTIONS });

const AuditTarget = builder.unionType('AuditTarget', {
  description: 'What an audit event is about',
  types: [Application, ApiKey, WebhookEndpoint, Role, Identity],
  // Told apart by their own columns: only keys have a prefix, only endpoints a URL, and of the
  // rest only roles have scopes and only identities an external id.
  resolveType: (row) =>
    'prefix' in row
      ? ApiKey
      : 'url' in row
        ? WebhookEndpoint
        : 'scopes' in row
          ? Role
          : 'externalId' in row
            ? Identity
            : Application,
});

const AuditEvent = builder.prismaObject('AuditEvent', {
  description: 'One management change, recorded in the same transaction as the change',
  fields: (t) => ({
    id: t.exposeID('id'),
    action: t.field({ type: AuditAction, resolve: (event) => event.action as typeof AuditAction.$inferType }),
    targetType: t.exposeString('targetType', { description: 'Application, ApiKey, WebhookEndpoint, Role or Identity' }),
    targetId: t.id({
      resolve: (event) =>
        globalId(
          event.targetType as 'Application' | 'ApiKey' | 'WebhookEndpoint' | 'Role' | 'Identity',
          event.targetId,
        ),
    }),
    target: t.field({
      type: AuditTarget,
      nullable: true,
      description: 'The application, key, webhook endpoint, role or identity as it is now; null once deleted',
      // Reached only through auditEvents, which requires a merchant.
      resolve: (event, _args, ctx) =>
        ctx.viewer ? audit.auditTarget(ctx as MerchantContext, event.targetType, event.targetId) : null,
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
      maxSize: pageSize,
      resolve: (query, _root, args, ctx) => audit.listAuditEvents(ctx, args, query),
      totalCount: (_root, args, ctx) => audit.countAuditEvents(ctx, args),
    },
    { name: 'AuditEventConnection' },
    { name: 'AuditEventEdge' },
  ),
);
