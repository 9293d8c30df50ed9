// The merchant the caller acts for.
import { builder } from '../builder.ts';

export const Merchant = builder.prismaNode('Merchant', {
  id: { field: 'id' },
  nullable: true,
  // A merchant is visible only to itself: any other id loads nothing.
  findUnique: (id, ctx) => ({ id: ctx.viewer?.merchantId === id ? id : '' }),
  fields: (t) => ({
    merchantId: t.exposeString('id', { description: 'The merchant id carried in the JWT' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('viewer', (t) =>
  t.withAuth({ merchant: true }).prismaField({
    type: Merchant,
    description: 'The merchant this request acts for',
    resolve: (query, _root, _args, ctx) =>
      ctx.prisma.merchant.findUniqueOrThrow({ ...query, where: { id: ctx.viewer.merchantId } }),
  }),
);

builder.queryField('clientAddress', (t) =>
  t.withAuth({ merchant: true }).string({
    nullable: true,
    description:
      'The address this request came from, as Keygate sees it (behind KEYGATE_TRUSTED_PROXIES, the forwarded one): what an IP rule needs to allow you',
    resolve: (_root, _args, ctx) => ctx.request?.ip ?? null,
  }),
);
