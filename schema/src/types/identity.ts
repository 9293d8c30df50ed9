// Identities: whoever keys belong to (a customer, a user, a team), under the merchant's own id.

import { creditsView, METERING_BOUNDS } from '@keygate/core';
import type { MerchantContext } from '@keygate/services/context';
import { clockOf } from '@keygate/services/context';
import {
  BadRequestError,
  IdentityInUseError,
  NameConflictError,
  NotFoundError,
  ValidationError,
} from '@keygate/services/errors';
import * as identities from '@keygate/services/identities';
import { checkPageSize } from '@keygate/services/pagination';
import type { Identity as IdentityRow } from '@keygate/services/prisma';
import {
  creditsRule,
  identityExternalIdRule,
  metadataRule,
  nameRule,
  rateLimitsRule,
} from '@keygate/services/validation';
import { builder, pageSize } from '../builder.ts';
import { Credits, CreditsInput, RateLimit, RateLimitInput } from './metering.ts';

export const Identity = builder.prismaNode('Identity', {
  id: { field: 'id' },
  nullable: true,
  description:
    'Whoever keys belong to, in your terms (a customer, a user, a team); every verification of its keys answers with it',
  findUnique: (id, ctx) => ({ id_merchantId: { id, merchantId: ctx.viewer?.merchantId ?? '' } }),
  fields: (t) => ({
    externalId: t.exposeString('externalId', { description: 'Your own id for it, unique among your identities' }),
    name: t.exposeString('name', { nullable: true }),
    metadata: t.field({
      type: 'JSON',
      nullable: true,
      description: 'Your own data about it, returned with every verification of its keys',
      resolve: (identity) => identity.metadata,
    }),
    credits: t.field({
      type: Credits,
      nullable: true,
      description:
        'Credits all its keys share: a verification spends from these and from the key’s own, all or nothing; null: none',
      resolve: (identity, _args, ctx) => creditsView(identity, clockOf(ctx)),
    }),
    rateLimits: t.field({
      type: [RateLimit],
      description: 'Rate limits all its keys share, checked with each key’s own; empty when none',
      resolve: (identity) => identity.rateLimits as { name: string; limit: number; windowSeconds: number }[],
    }),
    keysInUse: t.int({
      description: 'Its keys that are not revoked',
      resolve: (identity, _args, ctx) =>
        ctx.viewer ? identities.identityKeyCount(ctx as MerchantContext, identity.id) : 0,
    }),
    keys: t.prismaConnection(
      {
        type: 'ApiKey',
        cursor: 'id',
        description: 'Its keys (of every application), newest first',
        maxSize: pageSize,
        resolve: (query, identity, args, ctx) => {
          checkPageSize(args, ctx.settings.maxPageSize);
          return ctx.viewer ? identities.listIdentityKeys(ctx as MerchantContext, identity.id, args, query) : [];
        },
      },
      { name: 'IdentityKeyConnection' },
      { name: 'IdentityKeyEdge' },
    ),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.queryFields((t) => ({
  identities: t.withAuth({ merchant: true }).prismaConnection(
    {
      type: Identity,
      cursor: 'id',
      description: "The merchant's identities, newest first",
      args: {
        search: t.arg.string({
          required: false,
          description: 'Only those whose external id or name contains this text (case-insensitive)',
        }),
      },
      maxSize: pageSize,
      resolve: (query, _root, args, ctx) => identities.listIdentities(ctx, args, query),
      totalCount: (_root, args, ctx) => identities.countIdentities(ctx, args),
    },
    { name: 'IdentityConnection' },
    { name: 'IdentityEdge' },
  ),
  identity: t.withAuth({ merchant: true }).prismaField({
    type: Identity,
    nullable: true,
    description: 'By its id, or by your external id for it',
    args: { id: t.arg.id({ required: false }), externalId: t.arg.string({ required: false }) },
    resolve: (query, _root, args, ctx) => {
      if ((args.id == null) === (args.externalId == null)) {
        throw new BadRequestError('identity: give either id or externalId, not both');
      }
      return args.id != null
        ? identities.findIdentity(ctx, args.id, query)
        : identities.findIdentityByExternalId(ctx, args.externalId!, query);
    },
  }),
}));

const IdentityPayload = builder.objectRef<{ identity: IdentityRow }>('IdentityPayload').implement({
  fields: (t) => ({ identity: t.field({ type: Identity, resolve: (payload) => payload.identity }) }),
});

const metadataField = {
  validate: metadataRule,
  description: 'A JSON object (at most 4 KiB, depth 5) returned with every verification of its keys',
} as const;

builder.mutationFields((t) => ({
  createIdentity: t.withAuth({ merchant: true }).field({
    type: IdentityPayload,
    args: {
      input: t.arg({
        type: builder.inputType('CreateIdentityInput', {
          fields: (f) => ({
            externalId: f.string({
              required: true,
              validate: identityExternalIdRule,
              description: 'Your own id for it (a customer or user id): unique among your identities, 1-255 characters',
            }),
            name: f.string({ validate: nameRule(100), description: 'At most 100 characters' }),
            metadata: f.field({ type: 'JSON', ...metadataField }),
            credits: f.field({
              type: CreditsInput,
              validate: creditsRule,
              description: 'Credits all its keys share (each verification spends from these too); absent: none',
            }),
            rateLimits: f.field({
              type: [RateLimitInput],
              validate: rateLimitsRule,
              description: `Rate limits all its keys share (at most ${METERING_BOUNDS.maxRateLimits}, names unique)`,
            }),
          }),
        }),
        required: true,
      }),
    },
    errors: { types: [ValidationError, NameConflictError] },
    resolve: async (_root, { input }, ctx) => ({ identity: await identities.createIdentity(ctx, input) }),
  }),
  updateIdentity: t.withAuth({ merchant: true }).field({
    type: IdentityPayload,
    description: 'Changes the given fields; its keys answer with the change on their next verification',
    args: {
      input: t.arg({
        type: builder.inputType('UpdateIdentityInput', {
          fields: (f) => ({
            id: f.id({ required: true }),
            externalId: f.string({ validate: identityExternalIdRule }),
            name: f.string({ validate: nameRule(100), description: 'null clears it' }),
            metadata: f.field({ type: 'JSON', ...metadataField, description: 'Replaces the metadata; null clears it' }),
            credits: f.field({
              type: CreditsInput,
              validate: creditsRule,
              description:
                'Replaces the shared credits (unspent reservations of instances are void); null removes them',
            }),
            rateLimits: f.field({
              type: [RateLimitInput],
              validate: rateLimitsRule,
              description: 'Replaces the shared limits; null or [] removes them',
            }),
          }),
        }),
        required: true,
      }),
    },
    errors: { types: [ValidationError, NotFoundError, NameConflictError] },
    resolve: async (_root, { input }, ctx) => {
      if (input.externalId === null) {
        throw new ValidationError([{ path: ['input', 'externalId'], message: 'must not be null' }]);
      }
      const { externalId, ...rest } = input;
      return { identity: await identities.updateIdentity(ctx, { ...rest, externalId }) };
    },
  }),
  deleteIdentity: t.withAuth({ merchant: true }).field({
    type: IdentityPayload,
    description:
      'Deletes an identity; refused while keys that are not revoked belong to it, unless detachKeys (they then belong to none)',
    args: {
      input: t.arg({
        type: builder.inputType('DeleteIdentityInput', {
          fields: (f) => ({
            id: f.id({ required: true }),
            detachKeys: f.boolean({ defaultValue: false, description: 'Keep its keys, belonging to no identity' }),
          }),
        }),
        required: true,
      }),
    },
    errors: { types: [NotFoundError, IdentityInUseError] },
    resolve: async (_root, { input }, ctx) => ({
      identity: await identities.deleteIdentity(ctx, input.id, input.detachKeys ?? false),
    }),
  }),
}));
