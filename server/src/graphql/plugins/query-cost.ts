// What one GraphQL request asks for, measured with its variables: every client
// (the SDK included) sends page sizes as variables, so a cost computed from the
// document alone is a cost an attacker chooses. graphql-armor's cost limit
// reads literals only, hence this walk.
//
// The model is "about one unit per object the response can hold": each object
// or connection counts 1 per parent; a connection's edges/nodes count its
// `first`/`last` (or the default page size); edge wrappers and PageInfo are
// free; a list that is not paginated counts LIST_ESTIMATE per parent.

import { MAX_USAGE_BUCKETS, usageRange } from '@keygate/core';
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  getArgumentValues,
  getNamedType,
  getNullableType,
  getOperationAST,
  getVariableValues,
  isInterfaceType,
  isLeafType,
  isListType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** Pothos' relay plugin serves this many items when neither `first` nor `last` is given. */
export const DEFAULT_PAGE_SIZE = 20;
/** What a list without paging arguments (a key's IP rules) is assumed to hold. */
export const LIST_ESTIMATE = 5;

/**
 * Lists whose length their arguments decide: usage answers one bucket per hour or day of its
 * range (up to 744), costed as such rather than as a short list. An unreadable range costs the
 * most it could hold (the field refuses it anyway).
 */
const SIZED_LISTS: Record<string, (args: Record<string, unknown>) => number> = {
  'ApiKey.usage': usageBuckets,
  'Application.usage': usageBuckets,
};

function usageBuckets(args: Record<string, unknown>): number {
  const granularity = args.granularity === 'DAY' ? 'DAY' : 'HOUR';
  const { from, to } = args;
  if (from instanceof Date && to instanceof Date) {
    const range = usageRange(from, to, granularity);
    if (range.ok) return range.count;
  }
  return MAX_USAGE_BUCKETS[granularity];
}

export interface OversizedPage {
  field: string;
  argument: 'first' | 'last';
  value: number;
}

export interface Measurement {
  cost: number;
  /** The first `first`/`last` above the largest page, if any. */
  oversizedPage: OversizedPage | null;
}

/**
 * The cost of the operation a request runs, or null when its variables do not
 * coerce (execution then reports that itself).
 */
export function measureOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  rawVariables: Record<string, unknown> | null | undefined,
  maxPageSize: number,
): Measurement | null {
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {});
  if (coerced.errors) return null;
  return measure(schema, document, operation, coerced.coerced, maxPageSize);
}

/** The cost of one operation of a document, given its variables already coerced. */
export function measure(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
  maxPageSize: number,
): Measurement | null {
  const root = schema.getRootType(operation.operation);
  if (!root) return null;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const measurement: Measurement = { cost: 0, oversizedPage: null };
  const walk = (
    set: SelectionSetNode,
    type: GraphQLNamedType,
    multiplier: number,
    page: number | null,
    seen: string[],
  ) => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        // A cycle is refused by validation; here it only must not loop.
        if (!fragment || seen.includes(name)) continue;
        walk(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value) ?? type, multiplier, page, [
          ...seen,
          name,
        ]);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const condition = selection.typeCondition && schema.getType(selection.typeCondition.name.value);
        walk(selection.selectionSet, condition ?? type, multiplier, page, seen);
      } else {
        const field = fieldOf(type, selection);
        if (!field || !selection.selectionSet) continue;
        const named = getNamedType(field.type);
        if (isLeafType(named)) continue;
        const args = argumentsOf(field, selection, variables);
        const paged = field.args.some((arg) => arg.name === 'first' || arg.name === 'last');
        let childPage: number | null = null;
        if (paged) {
          for (const argument of ['first', 'last'] as const) {
            const value = args[argument];
            if (typeof value === 'number' && value > maxPageSize && !measurement.oversizedPage) {
              measurement.oversizedPage = { field: selection.name.value, argument, value };
            }
          }
          const size = (args.first ?? args.last ?? DEFAULT_PAGE_SIZE) as number;
          childPage = Math.min(Math.max(size, 0), maxPageSize);
        }
        const list = isListType(getNullableType(field.type));
        const sized = SIZED_LISTS[`${type.name}.${field.name}`];
        // A paged list (recentRefusals(first:)) holds its own page; a connection's edges hold theirs.
        const size = sized ? sized(args) : list && childPage !== null ? childPage : (page ?? LIST_ESTIMATE);
        const count = list ? multiplier * size : multiplier;
        if (!named.name.endsWith('Edge') && named.name !== 'PageInfo') measurement.cost += count;
        walk(selection.selectionSet, named, count, list ? null : childPage, seen);
      }
    }
  };
  walk(operation.selectionSet, root, 1, null, []);
  return measurement;
}

function fieldOf(type: GraphQLNamedType, node: FieldNode): GraphQLField<unknown, unknown> | undefined {
  // Introspection (__schema, __type) is not what these limits are about.
  if (node.name.value.startsWith('__')) return undefined;
  return isObjectType(type) || isInterfaceType(type) ? type.getFields()[node.name.value] : undefined;
}

function argumentsOf(
  field: GraphQLField<unknown, unknown>,
  node: FieldNode,
  variables: Record<string, unknown>,
): Record<string, unknown> {
  try {
    return getArgumentValues(field, node, variables);
  } catch {
    // An invalid literal: validation has refused it already.
    return {};
  }
}
