// Counts executed GraphQL operations by name and first error code, for /metrics. The name a
// client sends is any string it likes: labelled as such, 2,000 anonymous queries made 2,001
// series. Only the SDK's own operations (what the dashboard and integrators send) keep their
// name; any other named operation is "other", an unnamed one "anonymous".
import type { Context } from '@keygate/schema';
import * as documents from '@keygate/sdk/documents';
import { type DocumentNode, getOperationAST, Kind } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from '../../observability/metrics.ts';

/** The operation names of the SDK's typed documents. */
export const KNOWN_OPERATIONS: ReadonlySet<string> = new Set(
  Object.values(documents as Record<string, unknown>).flatMap((value) => {
    const document = value as DocumentNode | undefined;
    if (document?.kind !== Kind.DOCUMENT) return [];
    return document.definitions.flatMap((d) => (d.kind === Kind.OPERATION_DEFINITION && d.name ? [d.name.value] : []));
  }),
);

export function operationLabel(name: string | null | undefined): string {
  if (!name) return 'anonymous';
  return KNOWN_OPERATIONS.has(name) ? name : 'other';
}

export function operationMetrics(metrics: Metrics): Plugin<Context> {
  return {
    onExecute({ args }) {
      const label = operationLabel(args.operationName ?? getOperationAST(args.document)?.name?.value);
      return {
        onExecuteDone({ result }) {
          const errors = 'errors' in result ? result.errors : undefined;
          metrics.operation(label, String(errors?.[0]?.extensions?.code ?? ''));
        },
      };
    },
  };
}
