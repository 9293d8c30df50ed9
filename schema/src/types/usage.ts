// Verification analytics on keys and applications: verifications per hour or
// day by outcome, and a key's latest refusals ("why does my integration fail?").

import {
  applicationUsage,
  identityUsage,
  keyUsage,
  merchantUsage,
  refusalReasons,
  type UsageBucket,
} from '@keygate/services/usage';
import { builder } from '../builder.ts';
import { ApiKey } from './api-key.ts';
import { Application } from './application.ts';
import { Identity } from './identity.ts';
import { Merchant } from './merchant.ts';
import { VerifyCodeEnum } from './verification.ts';

const UsageGranularity = builder.enumType('UsageGranularity', {
  values: {
    HOUR: { description: 'One bucket per hour (UTC); at most 31 days per request' },
    DAY: { description: 'One bucket per day (UTC); at most 400 days per request' },
  },
});

const UsageBucketRef = builder.objectRef<UsageBucket>('UsageBucket').implement({
  description: 'Verifications in one hour or day, by outcome (counted for known keys)',
  fields: (t) => ({
    start: t.expose('start', { type: 'DateTime' }),
    valid: t.exposeInt('valid'),
    rateLimited: t.exposeInt('rateLimited', { description: "Refused by one of the key's own rate limits" }),
    usageExceeded: t.exposeInt('usageExceeded', { description: 'Refused because its credits were used up' }),
    refused: t.exposeInt('refused', { description: 'Every other refusal: revoked, expired, IP denied, …' }),
  }),
});

const usageArgs = builder.args((t) => ({
  from: t.field({ type: 'DateTime', required: true }),
  to: t.field({ type: 'DateTime', required: true }),
  granularity: t.field({ type: UsageGranularity, defaultValue: 'HOUR' }),
}));

builder.objectField(ApiKey, 'usage', (t) =>
  t.field({
    type: [UsageBucketRef],
    description: 'Verifications of this key per hour or day, every bucket of [from, to) included',
    args: usageArgs,
    resolve: (key, args, ctx) => keyUsage(ctx, key.id, args),
  }),
);

builder.objectField(Application, 'usage', (t) =>
  t.field({
    type: [UsageBucketRef],
    description: "Verifications of this application's keys per hour or day, every bucket of [from, to) included",
    args: usageArgs,
    resolve: (application, args, ctx) => applicationUsage(ctx.prisma, application.id, args),
  }),
);

builder.objectField(Identity, 'usage', (t) =>
  t.field({
    type: [UsageBucketRef],
    description:
      'Verifications of the keys that belong to this identity (of every application) per hour or day, every bucket of [from, to) included',
    args: usageArgs,
    resolve: (identity, args, ctx) => identityUsage(ctx.prisma, identity.id, args),
  }),
);

builder.objectField(Merchant, 'usage', (t) =>
  t.field({
    type: [UsageBucketRef],
    description: 'Verifications of all your keys per hour or day, every bucket of [from, to) included',
    args: usageArgs,
    resolve: (merchant, args, ctx) => merchantUsage(ctx.prisma, merchant.id, args),
  }),
);

const RefusalReason = builder.objectRef<{ code: string; count: number }>('RefusalReason').implement({
  description: 'How many verifications of your keys were refused for one reason',
  fields: (t) => ({
    code: t.field({ type: VerifyCodeEnum, resolve: (reason) => reason.code as typeof VerifyCodeEnum.$inferType }),
    count: t.exposeInt('count'),
  }),
});

builder.objectField(Merchant, 'refusalReasons', (t) =>
  t.field({
    type: [RefusalReason],
    description: 'Refused verifications of all your keys in [from, to) by reason, the most frequent first',
    args: {
      from: t.arg({ type: 'DateTime', required: true }),
      to: t.arg({ type: 'DateTime', required: true }),
    },
    resolve: (merchant, args, ctx) => refusalReasons(ctx.prisma, merchant.id, args),
  }),
);

const Refusal = builder.prismaObject('KeyRefusal', {
  name: 'Refusal',
  description: 'One refused verification of a key',
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime' }),
    code: t.field({ type: VerifyCodeEnum, resolve: (refusal) => refusal.code as typeof VerifyCodeEnum.$inferType }),
    clientIp: t.exposeString('clientIp', { nullable: true }),
  }),
});

builder.prismaObjectField(ApiKey, 'recentRefusals', (t) =>
  t.relation('refusals', {
    type: Refusal,
    description: 'Its latest refused verifications, newest first (the newest 100 are kept)',
    args: { first: t.arg.int({ defaultValue: 20, description: 'At most 100' }) },
    query: (args) => ({ orderBy: { at: 'desc' }, take: Math.max(0, Math.min(args.first ?? 20, 100)) }),
  }),
);
