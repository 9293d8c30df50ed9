// Roles: named sets of scopes per merchant, given to keys (a key's effective scopes are its own
// plus its roles').

import type { MerchantContext } from '@keygate/services/context';
import {
  NameConflictError,
  NotFoundError,
  PolicyViolationError,
  RoleInUseError,
  ValidationError,
} from '@keygate/services/errors';
import type { Role as RoleRow } from '@keygate/services/prisma';
import * as roles from '@keygate/services/roles';
import { descriptionRule, nameRule, scopesRule } from '@keygate/services/validation';
import { builder, pageSize } from '../builder.ts';

export const Role = builder.prismaNode('Role', {
  id: { field: 'id' },
  nullable: true,
  description:
    'A named set of scopes; every key that has the role is granted them, and editing it reaches every such key',
  findUnique: (id, ctx) => ({ id_merchantId: { id, merchantId: ctx.viewer?.merchantId ?? '' } }),
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    scopes: t.exposeStringList('scopes', { description: 'What the role grants; never empty' }),
    keysInUse: t.int({
      description: 'Keys that are not revoked and have the role (a role in use cannot be deleted)',
      resolve: (role, _args, ctx) => (ctx.viewer ? roles.roleKeyCount(ctx as MerchantContext, role.id) : 0),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.queryFields((t) => ({
  roles: t.withAuth({ merchant: true }).prismaConnection(
    {
      type: Role,
      cursor: 'id',
      description: "The merchant's roles, newest first",
      args: {
        search: t.arg.string({ required: false, description: 'Only names containing this text (case-insensitive)' }),
      },
      maxSize: pageSize,
      resolve: (query, _root, args, ctx) => roles.listRoles(ctx, args, query),
      totalCount: (_root, args, ctx) => roles.countRoles(ctx, args),
    },
    { name: 'RoleConnection' },
    { name: 'RoleEdge' },
  ),
  role: t.withAuth({ merchant: true }).prismaField({
    type: Role,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => roles.findRole(ctx, args.id, query),
  }),
}));

const RolePayload = builder.objectRef<{ role: RoleRow }>('RolePayload').implement({
  fields: (t) => ({ role: t.field({ type: Role, resolve: (payload) => payload.role }) }),
});

const roleScopes = (required: boolean) =>
  ({
    validate: scopesRule,
    description: `What the role grants: at least one scope, e.g. ["orders.read", "refunds.*"]${required ? '' : '; replaces the list'}`,
  }) as const;

const CreateRoleInput = builder.inputType('CreateRoleInput', {
  fields: (t) => ({
    name: t.string({
      required: true,
      validate: nameRule(100),
      description: 'Unique per merchant, case-insensitive; at most 100 characters',
    }),
    description: t.string({ validate: descriptionRule, description: 'At most 500 characters' }),
    scopes: t.stringList({ required: true, ...roleScopes(true) }),
  }),
});

const UpdateRoleInput = builder.inputType('UpdateRoleInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string({ validate: nameRule(100) }),
    description: t.string({ validate: descriptionRule, description: 'null or "" clears it' }),
    scopes: t.stringList(roleScopes(false)),
  }),
});

builder.mutationFields((t) => ({
  createRole: t.withAuth({ merchant: true }).field({
    type: RolePayload,
    args: { input: t.arg({ type: CreateRoleInput, required: true }) },
    errors: { types: [ValidationError, NameConflictError] },
    resolve: async (_root, { input }, ctx) => ({ role: await roles.createRole(ctx, input) }),
  }),
  updateRole: t.withAuth({ merchant: true }).field({
    type: RolePayload,
    description:
      'Changes the given fields; new scopes apply to every key with the role on its next verification. New scopes that would make a key with the role break the key policy (allowed scopes, no wildcards in live) are refused with PolicyViolationError at input.scopes',
    args: { input: t.arg({ type: UpdateRoleInput, required: true }) },
    errors: { types: [ValidationError, NotFoundError, NameConflictError, PolicyViolationError] },
    resolve: async (_root, { input }, ctx) => {
      for (const field of ['name', 'scopes'] as const) {
        if (input[field] === null) throw new ValidationError([{ path: ['input', field], message: 'must not be null' }]);
      }
      const { name, scopes, ...rest } = input;
      return { role: await roles.updateRole(ctx, { ...rest, name: name ?? undefined, scopes: scopes ?? undefined }) };
    },
  }),
  deleteRole: t.withAuth({ merchant: true }).field({
    type: RolePayload,
    description: 'Deletes a role that no key (that is not revoked) has; the payload holds the role as it was',
    args: {
      input: t.arg({
        type: builder.inputType('DeleteRoleInput', { fields: (f) => ({ id: f.id({ required: true }) }) }),
        required: true,
      }),
    },
    errors: { types: [NotFoundError, RoleInUseError] },
    resolve: async (_root, { input }, ctx) => ({ role: await roles.deleteRole(ctx, input.id) }),
  }),
}));
