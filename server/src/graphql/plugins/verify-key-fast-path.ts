// A compiled path for the one GraphQL operation on the hot path: a service
// calling verifyKey. Each distinct document is analysed once (parsed, checked
// against the schema, reduced to a plan); requests that fit a plan are answered
// without graphql-js execution, which otherwise costs several times the
// verification itself. Whatever the plan does not cover exactly — other
// operations, fragments spreads, directives, unusual variables, invalid input,
// missing or bad credentials, merchant callers — takes the normal path, which
// also produces every error. Tests compare both paths' responses byte for byte.

import {
  checkScopes,
  isCost,
  type KeyVerifier,
  type PermissionExpression,
  parseIp,
  parsePermissions,
  type RateLimitState,
  type VerifyOutcome,
  type VerifyRequest,
} from '@keygate/core';
import { type Context, keyVerificationFields } from '@keygate/schema';
import { context } from '@opentelemetry/api';
import {
  type DocumentNode,
  type FieldNode,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  parse,
  type SelectionSetNode,
  type ValueNode,
  validate,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import { operationSpan, tracing } from '../../observability/tracing.ts';
import { LIMITS } from './abuse-limits.ts';
import { requestIdOf } from './request-ids.ts';
import { principals } from './require-authentication.ts';
import { repeatedSelection } from './selection-limits.ts';

type FieldName = keyof typeof keyVerificationFields | '__typename';
/** A field of the result; rateLimits carries its own selection (response keys and RateLimitState fields). */
type Selected = [string, FieldName] | [string, 'rateLimits' | 'identity', [string, string][]];
type Variables = Record<string, unknown> | undefined;
const FALLBACK = Symbol('fallback');

interface Plan {
  rootKey: string;
  /** The operation's name in the document, for its trace span. */
  operationName: string | undefined;
  /** Response keys and the KeyVerification fields behind them, in response order. */
  fields: Selected[];
  /** The raw input object from the request's variables, or FALLBACK when they need graphql-js. */
  input(variables: Variables): Record<string, unknown> | typeof FALLBACK;
}

const INPUT_FIELDS = new Set(['key', 'ip', 'requiredAccess', 'requiredScopes', 'requiredPermissions', 'cost']);
const RATE_LIMIT_STATE_FIELDS = new Set(['name', 'limit', 'remaining', 'resetAt', 'exceeded', '__typename']);
const VERIFIED_IDENTITY_FIELDS = new Set(['id', 'externalId', 'metadata', '__typename']);

/** Documents longer than this never get a plan: a verifyKey call with every field selected is under 1 KB. */
const MAX_PLANNED_DOCUMENT = 8 * 1024;

export function verifyKeyFastPath(schema: GraphQLSchema, verifier: KeyVerifier): Plugin<Context> {
  // One plan per document a service sends (a gateway sends the same one always); boxed, as
  // "no plan: use normal execution" is an answer worth remembering too. Bounded in bytes, and
  // only authenticated services reach it: nothing anonymous is parsed or kept here.
  const plans = new LRUCache<string, { plan: Plan | null }>({
    maxSize: 1024 * 1024,
    sizeCalculation: (_value, key) => key.length + 256,
  });
  const planFor = (query: string, operationName: string | undefined): Plan | null => {
    const cacheKey = `${operationName ?? ''}\n${query}`;
    let cached = plans.get(cacheKey);
    if (cached === undefined) {
      cached = { plan: compile(schema, query, operationName) };
      plans.set(cacheKey, cached);
    }
    return cached.plan;
  };

  return {
    async onParams({ request, params, setResult }) {
      if (request.method !== 'POST' || typeof params.query !== 'string') return;
      // Services only, already authenticated by plugins/require-authentication.ts, and small documents only.
      if (principals.get(request)?.kind !== 'verifier' || params.query.length > MAX_PLANNED_DOCUMENT) return;
      const plan = planFor(params.query, params.operationName ?? undefined);
      if (!plan) return;
      const raw = plan.input(params.variables as Variables);
      if (raw === FALLBACK) return;
      const input = checkInput(raw);
      if (!input) return;
      const outcome = await (tracing.enabled
        ? traced(request, plan.operationName, () => verifier.verify(input))
        : verifier.verify(input));
      const result: Record<string, unknown> = {};
      for (const [key, field, sub] of plan.fields) {
        if (field === '__typename') result[key] = 'KeyVerification';
        else if (sub !== undefined && field === 'identity') result[key] = identity(outcome, sub);
        else if (sub !== undefined) result[key] = rateLimits(outcome.rateLimits, sub);
        else result[key] = keyVerificationFields[field](outcome);
      }
      setResult({ data: { [plan.rootKey]: result } });
    },
  };
}

/** The operation's span, as plugins/tracing.ts makes it on the normal path. */
async function traced(
  request: Request,
  name: string | undefined,
  verify: () => VerifyOutcome | Promise<VerifyOutcome>,
) {
  const { span, context: spanContext } = operationSpan('mutation', name, request.headers, requestIdOf(request));
  try {
    return await context.with(spanContext, verify);
  } finally {
    span.end();
  }
}

/** rateLimits as graphql-js would serialise the selection (DateTime as an ISO string). */
function identity(outcome: VerifyOutcome, selection: [string, string][]) {
  const value = keyVerificationFields.identity(outcome);
  if (value === null) return null;
  const item: Record<string, unknown> = {};
  for (const [key, field] of selection) {
    item[key] = field === '__typename' ? 'VerifiedIdentity' : value[field as keyof typeof value];
  }
  return item;
}

function rateLimits(limits: RateLimitState[] | undefined, selection: [string, string][]) {
  if (limits === undefined) return null;
  return limits.map((limit) => {
    const item: Record<string, unknown> = {};
    for (const [key, field] of selection) {
      item[key] =
        field === '__typename'
          ? 'RateLimitState'
          : field === 'resetAt'
            ? new Date(limit.resetAt).toISOString()
            : limit[field as keyof RateLimitState];
    }
    return item;
  });
}

/** The checks the schema's input rules make; null when any fails (the normal path reports it). */
function checkInput(raw: Record<string, unknown>): VerifyRequest | null {
  const { key, ip, requiredAccess, requiredScopes, requiredPermissions, cost } = raw;
  if (typeof key !== 'string') return null;
  let canonicalIp: string | null = null;
  if (ip != null) {
    if (typeof ip !== 'string') return null;
    canonicalIp = parseIp(ip)?.toString() ?? null;
    if (canonicalIp === null) return null;
  }
  if (requiredAccess != null && requiredAccess !== 'READ_ONLY' && requiredAccess !== 'FULL_ACCESS') return null;
  let scopes: string[] | null = null;
  if (requiredScopes != null) {
    // GraphQL input coercion turns a single value into a one-item list.
    scopes = Array.isArray(requiredScopes) ? requiredScopes : [requiredScopes];
    if (checkScopes(scopes) === null) return null;
  }
  if (cost != null && !isCost(cost)) return null;
  let permissions: PermissionExpression | null = null;
  if (requiredPermissions != null) {
    if (typeof requiredPermissions !== 'string') return null;
    const parsed = parsePermissions(requiredPermissions);
    if (!parsed.ok) return null;
    permissions = parsed.value;
  }
  return {
    key,
    ip: canonicalIp,
    requiredAccess: (requiredAccess as VerifyRequest['requiredAccess']) ?? null,
    requiredScopes: scopes,
    requiredPermissions: permissions,
    cost: (cost as number | null | undefined) ?? null,
  };
}

function compile(schema: GraphQLSchema, query: string, operationName: string | undefined): Plan | null {
  let document: DocumentNode;
  try {
    // The same token limit as the normal path, and the repeated-selection bound before validation.
    document = parse(query, { noLocation: true, maxTokens: LIMITS.tokens });
  } catch {
    return null;
  }
  if (repeatedSelection(document) !== null || validate(schema, document).length > 0) return null;
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  const operation = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  if (operation?.operation !== 'mutation' || operation.directives?.length) return null;
  if (operation.variableDefinitions?.some((v) => v.defaultValue || v.directives?.length)) return null;
  const [root, ...rest] = operation.selectionSet.selections;
  if (
    !root ||
    rest.length > 0 ||
    root.kind !== Kind.FIELD ||
    root.name.value !== 'verifyKey' ||
    root.directives?.length
  )
    return null;
  const fields = collectFields(root.selectionSet);
  const argument = root.arguments?.[0];
  if (!fields || !argument || root.arguments!.length !== 1) return null;
  const input = inputReader(argument.value);
  if (!input) return null;
  return { rootKey: root.alias?.value ?? 'verifyKey', operationName: operation.name?.value, fields, input };
}

/** The fields selected on a KeyVerification result, merged as graphql-js merges them. */
function collectFields(selectionSet: SelectionSetNode | undefined): Selected[] | null {
  if (!selectionSet) return null;
  const fields: Selected[] = [];
  const walk = (set: SelectionSetNode): boolean => {
    for (const selection of set.selections) {
      if (selection.directives?.length) return false;
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name !== '__typename' && !(name in keyVerificationFields)) return false;
        const key = (selection as FieldNode).alias?.value ?? name;
        const existing = fields.find(([k]) => k === key);
        if (name === 'rateLimits' || name === 'identity') {
          // One plain selection of the object's fields; anything more elaborate takes the normal path.
          const sub = objectSelection(
            selection.selectionSet,
            name === 'rateLimits' ? RATE_LIMIT_STATE_FIELDS : VERIFIED_IDENTITY_FIELDS,
          );
          if (sub === null || existing !== undefined) return false;
          fields.push([key, name, sub]);
        } else if (existing === undefined) fields.push([key, name as FieldName]);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition?.name.value;
        // Fragments on the error types never apply to a KeyVerification.
        if (on === 'ValidationError' || on === 'Error') continue;
        if (on !== undefined && on !== 'KeyVerification' && on !== 'VerifyKeyResult') return false;
        if (!walk(selection.selectionSet)) return false;
      } else {
        return false;
      }
    }
    return true;
  };
  return walk(selectionSet) ? fields : null;
}

function objectSelection(set: SelectionSetNode | undefined, known: Set<string>): [string, string][] | null {
  if (!set) return null;
  const fields: [string, string][] = [];
  for (const selection of set.selections) {
    if (selection.kind !== Kind.FIELD || selection.directives?.length) return null;
    const name = selection.name.value;
    if (!known.has(name)) return null;
    const key = selection.alias?.value ?? name;
    const existing = fields.find(([k]) => k === key);
    if (existing !== undefined && existing[1] !== name) return null;
    if (existing === undefined) fields.push([key, name]);
  }
  return fields;
}

/** Reads the `input` argument: a variable, or an object literal of literals and variables. */
function inputReader(value: ValueNode): Plan['input'] | null {
  if (value.kind === Kind.VARIABLE) {
    const name = value.name.value;
    return (variables) => {
      const raw = variables?.[name];
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return FALLBACK;
      for (const field of Object.keys(raw)) if (!INPUT_FIELDS.has(field)) return FALLBACK;
      return raw as Record<string, unknown>;
    };
  }
  if (value.kind !== Kind.OBJECT) return null;
  const readers: [string, (variables: Variables) => unknown][] = [];
  for (const field of value.fields) {
    const reader = literalReader(field.value);
    if (!reader) return null;
    readers.push([field.name.value, reader]);
  }
  return (variables) => {
    const raw: Record<string, unknown> = {};
    for (const [name, read] of readers) {
      const read_ = read(variables);
      if (read_ === FALLBACK) return FALLBACK;
      if (read_ !== undefined) raw[name] = read_;
    }
    return raw;
  };
}

function literalReader(value: ValueNode): ((variables: Variables) => unknown) | null {
  switch (value.kind) {
    case Kind.VARIABLE: {
      const name = value.name.value;
      return (variables) => (variables && name in variables ? variables[name] : undefined);
    }
    case Kind.INT: {
      const literal = Number(value.value);
      return () => literal;
    }
    case Kind.STRING:
    case Kind.ENUM: {
      const literal = value.value;
      return () => literal;
    }
    case Kind.NULL:
      return () => null;
    case Kind.LIST: {
      const items = value.values.map(literalReader);
      if (items.some((item) => item === null)) return null;
      return (variables) => {
        const list = items.map((item) => item!(variables));
        return list.some((item) => item === undefined || item === FALLBACK) ? FALLBACK : list;
      };
    }
    default:
      return null;
  }
}
