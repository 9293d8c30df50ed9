// The Pothos schema builder and its plugins; no types are defined here.

import { decodeGlobalId, isLoadableNodeId } from '@keygate/core';
import type { Context, MerchantContext } from '@keygate/services/context';
import { ValidationError } from '@keygate/services/errors';
import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import { GraphQLError } from 'graphql';
import type PrismaTypes from './generated/pothos-types.ts';
import { getDatamodel } from './generated/pothos-types.ts';

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: { merchant: boolean; verifier: boolean };
  // Fields built with t.withAuth({ merchant: true }) get a context whose viewer is set.
  AuthContexts: { merchant: MerchantContext };
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    ID: { Input: string; Output: string };
  };
}>({
  // Order matters: scope-auth first; errors before validation (to turn its
  // failures into ValidationError results) and before prisma.
  plugins: [ScopeAuthPlugin, ErrorsPlugin, ValidationPlugin, PrismaPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (ctx) => ({ merchant: ctx.viewer !== null, verifier: ctx.service !== null }),
    unauthorizedError: (_parent, ctx) =>
      ctx.service
        ? new GraphQLError('Forbidden: a verifier token may only call verifyKey', {
            extensions: { code: 'FORBIDDEN', http: { status: 403 } },
          })
        : new GraphQLError('Authentication required: send Authorization: Bearer <JWT>', {
            extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
          }),
  },
  errors: {
    // Validation runs before the resolver; its failures become typed results
    // too. Authentication is checked before execution starts (see the server),
    // so no input is validated for an anonymous caller.
    unsafelyHandleInputErrors: true,
    // Every mutation answers its result union directly (no wrapper object), named <Mutation>Result.
    directResult: true,
    defaultUnionOptions: {
      name: ({ fieldName }) => `${fieldName.charAt(0).toUpperCase()}${fieldName.slice(1)}Result`,
    },
  },
  validation: {
    validationError: (result) => ValidationError.fromStandardSchema(result.issues),
  },
  prisma: {
    client: (ctx) => ctx.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    onUnusedQuery: 'warn',
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodesQueryOptions: false,
    decodeGlobalID: decodeGlobalId,
    nodeQueryOptions: {
      resolve: (_root, { id }, _ctx, _info, resolveNode) => (isLoadableNodeId(id) ? resolveNode(id) : null),
    },
  },
});

/** The largest page a connection serves (Pothos' maxSize), from the server's settings. */
export const pageSize = (_args: unknown, ctx: Context) => ctx.settings.maxPageSize;
