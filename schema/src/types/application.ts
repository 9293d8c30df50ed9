// Applications: named groups of keys, usually one integration each.

import { recorded, sent } from '../audit.ts';
import { builder } from '../builder.ts';
import { type Context, requireViewer } from '../context.ts';
import { normalizeName } from '../domain/names.ts';
import { NameConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { checkPageSize, keysetQuery, localId, newestFirst } from '../ids.ts';
import type { Application as ApplicationRow } from '../prisma.ts';
import { isUniqueViolation } from '../prisma-errors.ts';
import { descriptionRule, nameRule } from '../validation.ts';
import { KeyStatus, keyStatusWhere } from './api-key.ts';

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
    keys: t.relatedConnection(
      'keys',
      {
        cursor: 'id',
        description: "The application's keys, newest first",
        args: {
          status: t.arg({ type: [KeyStatus], required: false, description: 'Only keys with one of these statuses' }),
        },
        maxSize: (_args, ctx) => (ctx as Context).settings.maxPageSize,
        query: (args, ctx) => {
          // The connection arguments are there at run time; the option's type leaves them out.
          checkPageSize(args as { first?: number | null; last?: number | null }, ctx.settings.maxPageSize);
          return { where: keyStatusWhere(args.status, new Date()), orderBy: newestFirst };
        },
        totalCount: true,
      },
      { name: 'ApiKeyConnection' },
      { name: 'ApiKeyEdge' },
    ),
  }),
});

builder.queryFields((t) => ({
  applications: t.prismaConnection(
    {
      type: Application,
      cursor: 'id',
      description: "The merchant's applications, newest first",
      args: {
        search: t.arg.string({ required: false, description: 'Only names containing this text (case-insensitive)' }),
        enabled: t.arg.boolean({ required: false }),
      },
      maxSize: (_args, ctx) => (ctx as Context).settings.maxPageSize,
      resolve: (rawQuery, _root, args, ctx) => {
        checkPageSize(args, ctx.settings.maxPageSize);
        const { query, where } = keysetQuery(rawQuery);
        return ctx.prisma.application.findMany({
          ...query,
          where: { AND: [applicationFilter(ctx, args), where] },
          orderBy: newestFirst,
        });
      },
      totalCount: (_root, args, ctx) => ctx.prisma.application.count({ where: applicationFilter(ctx, args) }),
    },
    { name: 'ApplicationConnection' },
    { name: 'ApplicationEdge' },
  ),
  application: t.prismaField({
    type: Application,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => findApplication(ctx, args.id, query),
  }),
}));

function applicationFilter(ctx: Context, args: { search?: string | null; enabled?: boolean | null }) {
  return {
    merchantId: requireViewer(ctx).merchantId,
    ...(args.search ? { normalizedName: { contains: escapeLike(normalizeName(args.search)) } } : {}),
    ...(args.enabled != null ? { enabled: args.enabled } : {}),
  };
}

/** Prisma's `contains` is a LIKE pattern: make % and _ match themselves. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

/** The caller's application with this global id, or null (foreign and missing ids alike). */
export async function findApplication<Q extends object>(ctx: Context, id: string, query?: Q) {
  const local = localId(id, 'Application');
  if (!local) return null;
  return ctx.prisma.application.findUnique({
    ...query,
    where: { id_merchantId: { id: local, merchantId: requireViewer(ctx).merchantId } },
  });
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
  createApplication: t.field({
    type: ApplicationPayload,
    args: { input: t.arg({ type: CreateApplicationInput, required: true }) },
    errors: {
      types: [ValidationError, NameConflictError],
      directResult: true,
      union: { name: 'CreateApplicationResult' },
    },
    resolve: async (_root, { input }, ctx) => {
      const merchantId = requireViewer(ctx).merchantId;
      const application = await withNameCheck(input.name, () =>
        recorded(
          ctx,
          (tx) =>
            tx.application.create({
              data: {
                merchantId,
                name: input.name,
                normalizedName: normalizeName(input.name),
                description: input.description ?? null,
              },
            }),
          (app) => ({
            action: 'createApplication',
            target: { type: 'Application', id: app.id },
            summary: sent(input, ['name', 'description']),
          }),
        ),
      );
      return { application };
    },
  }),
  updateApplication: t.field({
    type: ApplicationPayload,
    args: { input: t.arg({ type: UpdateApplicationInput, required: true }) },
    errors: {
      types: [ValidationError, NotFoundError, NameConflictError],
      directResult: true,
      union: { name: 'UpdateApplicationResult' },
    },
    resolve: async (_root, { input }, ctx) => {
      if (input.name === null) throw new ValidationError([{ path: ['input', 'name'], message: 'must not be null' }]);
      const id = await requireApplicationId(ctx, input.id);
      const { name } = input;
      const application = await withNameCheck(name ?? '', () =>
        recorded(
          ctx,
          (tx) =>
            tx.application.update({
              where: { id },
              data: {
                ...(name != null ? { name, normalizedName: normalizeName(name) } : {}),
                ...(input.description !== undefined ? { description: input.description } : {}),
              },
            }),
          () => ({
            action: 'updateApplication',
            target: { type: 'Application', id },
            summary: sent(input, ['name', 'description']),
          }),
        ),
      );
      return { application };
    },
  }),
  setApplicationEnabled: t.field({
    type: ApplicationPayload,
    description: 'Disabling stops every key of the application from verifying; the keys keep their own status',
    args: { input: t.arg({ type: SetApplicationEnabledInput, required: true }) },
    errors: { types: [NotFoundError], directResult: true, union: { name: 'SetApplicationEnabledResult' } },
    resolve: async (_root, { input }, ctx) => {
      const id = await requireApplicationId(ctx, input.id);
      const application = await recorded(
        ctx,
        (tx) => tx.application.update({ where: { id }, data: { enabled: input.enabled } }),
        () => ({
          action: 'setApplicationEnabled',
          target: { type: 'Application', id },
          summary: { enabled: input.enabled },
        }),
        () => ({ applicationId: id }),
      );
      return { application };
    },
  }),
}));

async function requireApplicationId(ctx: Context, id: string): Promise<string> {
  const application = await findApplication(ctx, id, { select: { id: true } });
  if (!application) throw new NotFoundError('Application', id);
  return application.id;
}

async function withNameCheck<T>(name: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error)) throw new NameConflictError(name);
    throw error;
  }
}
