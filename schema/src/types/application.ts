// Applications: named groups of keys, usually one integration each.

import type { KeyStatusName } from '@keygate/core';
import { applicationKeyCount, applicationKeys } from '@keygate/services/application-keys';
import * as applications from '@keygate/services/applications';
import type { MerchantContext } from '@keygate/services/context';
import { NameConflictError, NotFoundError, ValidationError } from '@keygate/services/errors';
import { checkPageSize } from '@keygate/services/pagination';
import type { Application as ApplicationRow } from '@keygate/services/prisma';
import { descriptionRule, nameRule } from '@keygate/services/validation';
import { builder, pageSize } from '../builder.ts';
import { KeyStatus } from './api-key.ts';

export const Application = builder.prismaNode('Application', {
  id: { field: 'id' },
  nullable: true,
  findUnique: (id, ctx) => ({ id_merchantId: { id, merchantId: ctx.viewer?.merchantId ?? '' } }),
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    enabled: t.exposeBoolean('enabled', { description: 'While false, none of its keys verify' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    keyLimit: t.int({
      description: 'Most keys that are not revoked this application may hold',
      resolve: (_app, _args, ctx) => ctx.settings.maxKeysPerApplication,
    }),
    keysInUse: t.int({
      description: 'Its keys that are not revoked: what counts against keyLimit',
      resolve: (app, _args, ctx) => (ctx.viewer ? applications.keysInUse(ctx as MerchantContext, app.id) : 0),
    }),
    keys: t.prismaConnection(
      {
        type: 'ApiKey',
        cursor: 'id',
        description: "The application's keys, newest first",
        args: {
          status: t.arg({ type: [KeyStatus], required: false, description: 'Only keys with one of these statuses' }),
          externalId: t.arg.string({ required: false, description: 'Only keys with this owner id' }),
          search: t.arg.string({
            required: false,
            description: 'Only keys whose name contains this text (case-insensitive) or whose prefix starts with it',
          }),
        },
        maxSize: pageSize,
        // A page of applications loads its keys together, at most a page per application (application-keys.ts).
        resolve: (query, app, args, ctx) => {
          checkPageSize(args, ctx.settings.maxPageSize);
          if (!ctx.viewer) return [];
          return applicationKeys(ctx as MerchantContext, app.id, query, keyFilter(args));
        },
        totalCount: (app, args, ctx) =>
          ctx.viewer ? applicationKeyCount(ctx as MerchantContext, app.id, keyFilter(args)) : 0,
      },
      { name: 'ApiKeyConnection' },
      { name: 'ApiKeyEdge' },
    ),
  }),
});

builder.queryFields((t) => ({
  applications: t.withAuth({ merchant: true }).prismaConnection(
    {
      type: Application,
      cursor: 'id',
      description: "The merchant's applications, newest first",
      args: {
        search: t.arg.string({ required: false, description: 'Only names containing this text (case-insensitive)' }),
        enabled: t.arg.boolean({ required: false }),
      },
      maxSize: pageSize,
      resolve: (query, _root, args, ctx) => applications.listApplications(ctx, args, query),
      totalCount: (_root, args, ctx) => applications.countApplications(ctx, args),
    },
    { name: 'ApplicationConnection' },
    { name: 'ApplicationEdge' },
  ),
  application: t.withAuth({ merchant: true }).prismaField({
    type: Application,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => applications.findApplication(ctx, args.id, query),
  }),
}));

function keyFilter(args: {
  status?: readonly KeyStatusName[] | null;
  externalId?: string | null;
  search?: string | null;
}) {
  return { statuses: args.status ?? null, externalId: args.externalId ?? null, search: args.search ?? null };
}

const ApplicationPayload = builder.objectRef<{ application: ApplicationRow }>('ApplicationPayload').implement({
  fields: (t) => ({ application: t.field({ type: Application, resolve: (payload) => payload.application }) }),
});

const CreateApplicationInput = builder.inputType('CreateApplicationInput', {
  fields: (t) => ({
    name: t.string({
      required: true,
      validate: nameRule(100),
      description: 'Unique per merchant, case-insensitive; at most 100 characters',
    }),
    description: t.string({ validate: descriptionRule, description: 'At most 500 characters' }),
  }),
});

const UpdateApplicationInput = builder.inputType('UpdateApplicationInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string({ validate: nameRule(100) }),
    description: t.string({ validate: descriptionRule, description: 'null or "" clears it' }),
  }),
});

const SetApplicationEnabledInput = builder.inputType('SetApplicationEnabledInput', {
  fields: (t) => ({ id: t.id({ required: true }), enabled: t.boolean({ required: true }) }),
});

builder.mutationFields((t) => ({
  createApplication: t.withAuth({ merchant: true }).field({
    type: ApplicationPayload,
    args: { input: t.arg({ type: CreateApplicationInput, required: true }) },
    errors: { types: [ValidationError, NameConflictError] },
    resolve: async (_root, { input }, ctx) => ({ application: await applications.createApplication(ctx, input) }),
  }),
  updateApplication: t.withAuth({ merchant: true }).field({
    type: ApplicationPayload,
    args: { input: t.arg({ type: UpdateApplicationInput, required: true }) },
    errors: { types: [ValidationError, NotFoundError, NameConflictError] },
    resolve: async (_root, { input }, ctx) => {
      const { name, ...rest } = input;
      if (name === null) throw new ValidationError([{ path: ['input', 'name'], message: 'must not be null' }]);
      return { application: await applications.updateApplication(ctx, { ...rest, name }) };
    },
  }),
  setApplicationEnabled: t.withAuth({ merchant: true }).field({
    type: ApplicationPayload,
    description: 'Disabling stops every key of the application from verifying; the keys keep their own status',
    args: { input: t.arg({ type: SetApplicationEnabledInput, required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (_root, { input }, ctx) => ({ application: await applications.setApplicationEnabled(ctx, input) }),
  }),
}));
