// Authentication before anything runs: no resolver, no validation of input,
// no database statement for a caller without credentials.
import type { Context } from '@keygate/schema';
import { type DocumentNode, Kind, type OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { AuthenticationError, MISSING_CREDENTIALS } from '../auth/errors.ts';

/**
 * Everything but schema introspection needs a merchant token. Checked before
 * execution, so an anonymous request never reaches validation or a resolver.
 */
export function requireAuthentication(): Plugin<Context> {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const { viewer, service } = args.contextValue;
      if (viewer || service || isIntrospectionOnly(args.document, args.operationName)) return;
      setResultAndStopExecution({
        errors: [new AuthenticationError(MISSING_CREDENTIALS)],
      });
    },
  };
}

function isIntrospectionOnly(document: DocumentNode, operationName?: string | null): boolean {
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations[0];
  if (operation?.operation !== 'query') return false;
  return operation.selectionSet.selections.every(
    (selection) => selection.kind === Kind.FIELD && selection.name.value.startsWith('__'),
  );
}
