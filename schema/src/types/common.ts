// Scalars and the error types every mutation result may contain.

import {
  ERROR_CODES,
  type FieldIssue,
  IdentityInUseError,
  type KeygateError,
  KeyLimitReachedError,
  KeyRevokedError,
  NameConflictError,
  NotFoundError,
  PolicyViolationError,
  type PolicyViolationIssue,
  RoleInUseError,
  ValidationError,
} from '@keygate/services/errors';
import { GraphQLError, Kind } from 'graphql';
import { builder } from '../builder.ts';

builder.scalarType('DateTime', {
  description: 'A point in time, as an ISO 8601 string with a time zone (e.g. 2026-01-31T12:00:00.000Z)',
  serialize: (value) => value.toISOString(),
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : null),
});

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parseDateTime(value: unknown): Date {
  const date = typeof value === 'string' && ISO_DATE_TIME.test(value) ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) {
    throw new GraphQLError('DateTime must be an ISO 8601 string with a time zone, e.g. 2026-01-31T12:00:00Z', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  return date;
}

// Every operation acts for an authenticated merchant unless a field says otherwise.
builder.queryType({ authScopes: { merchant: true } });
builder.mutationType({ authScopes: { merchant: true } });

export const ErrorCode = builder.enumType('ErrorCode', { values: ERROR_CODES });

export const ErrorInterface = builder.interfaceRef<KeygateError>('Error').implement({
  description: 'An expected failure the client can act on; `code` is stable, `message` is for people',
  fields: (t) => ({
    code: t.field({ type: ErrorCode, resolve: (error) => error.code }),
    message: t.exposeString('message'),
  }),
});

const FieldIssueRef = builder.objectRef<FieldIssue>('FieldIssue').implement({
  description: 'One invalid input value',
  fields: (t) => ({
    path: t.exposeStringList('path', { description: 'Path from the arguments, e.g. ["input", "name"]' }),
    message: t.exposeString('message'),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  interfaces: [ErrorInterface],
  fields: (t) => ({ issues: t.field({ type: [FieldIssueRef], resolve: (error) => error.issues }) }),
});

export const ResourceType = builder.enumType('ResourceType', {
  values: ['Application', 'ApiKey', 'WebhookEndpoint', 'Role', 'Identity'] as const,
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    resource: t.field({ type: ResourceType, resolve: (error) => error.resource }),
    id: t.exposeID('id'),
  }),
});

builder.objectType(NameConflictError, {
  name: 'NameConflictError',
  interfaces: [ErrorInterface],
  fields: (t) => ({ name: t.string({ resolve: (error) => error.applicationName }) }),
});

builder.objectType(RoleInUseError, {
  name: 'RoleInUseError',
  interfaces: [ErrorInterface],
  description: 'Keys that are not revoked still have the role; take it off them first',
  fields: (t) => ({ roleId: t.exposeID('roleId'), keyCount: t.exposeInt('keyCount') }),
});

builder.objectType(IdentityInUseError, {
  name: 'IdentityInUseError',
  interfaces: [ErrorInterface],
  description: 'Keys that are not revoked still belong to the identity; move them, or delete with detachKeys',
  fields: (t) => ({ identityId: t.exposeID('identityId'), keyCount: t.exposeInt('keyCount') }),
});

builder.objectType(KeyLimitReachedError, {
  name: 'KeyLimitReachedError',
  interfaces: [ErrorInterface],
  fields: (t) => ({ limit: t.exposeInt('limit') }),
});

builder.objectType(KeyRevokedError, {
  name: 'KeyRevokedError',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    keyId: t.exposeID('keyId'),
    revokedAt: t.field({ type: 'DateTime', resolve: (error) => error.revokedAt }),
  }),
});

export const PolicyRule = builder.enumType('PolicyRule', {
  values: {
    MAX_LIFETIME: { description: 'Keys of an environment must expire within a number of days of their creation' },
    FULL_ACCESS_NEEDS_IP_RULES: { description: 'Full-access keys must be limited by IP rules (or deny by default)' },
    NO_WILDCARD_SCOPES_IN_LIVE: { description: 'Live keys may not hold a scope ending in *' },
    ALLOWED_SCOPES: { description: "Every scope of a key (its own and its roles') must be in the allowed list" },
    MAX_GRACE_PERIOD: { description: "A roll's grace period may be at most a number of seconds" },
  } as const,
});

export const PolicyViolationRef = builder.objectRef<PolicyViolationIssue>('PolicyViolation').implement({
  description: 'One rule of the key policy, broken, and the field to change',
  fields: (t) => ({
    rule: t.field({ type: PolicyRule, resolve: (violation) => violation.rule }),
    field: t.exposeString('field', { description: 'The key field the rule is about, e.g. expiresAt' }),
    path: t.exposeStringList('path', {
      description: 'The input value to change, e.g. ["input", "keys", "3", "expiresAt"]; [] for an existing key',
    }),
    message: t.exposeString('message'),
  }),
});

builder.objectType(PolicyViolationError, {
  name: 'PolicyViolationError',
  interfaces: [ErrorInterface],
  description: "The change would leave a key outside the merchant's key policy; nothing was changed",
  fields: (t) => ({
    violations: t.field({ type: [PolicyViolationRef], resolve: (error) => error.violations }),
  }),
});
