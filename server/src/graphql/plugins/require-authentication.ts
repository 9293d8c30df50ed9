// Authentication before anything runs. The credentials are checked when the request's
// parameters arrive, before its document is parsed; an anonymous request may only read the
// schema (introspection), so no other document of an anonymous caller is ever validated,
// and none reaches a resolver or the database.
import type { IncomingMessage } from 'node:http';
import type { Context } from '@keygate/schema';
import { type DocumentNode, Kind, type OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Principal } from '../../auth/authenticator.ts';
import { AuthenticationError, MISSING_CREDENTIALS } from '../../auth/errors.ts';
import type { RequestPrincipal } from '../context.ts';

/** Who sent each request, once onParams has checked it (read by later plugins, e.g. the verifyKey fast path). */
export const principals = new WeakMap<Request, Principal | null>();

export function requireAuthentication(principalOf: RequestPrincipal): Plugin<Context> {
  return {
    async onParams({ request, context }) {
      // A refused or uncheckable token throws here: 401 (or 503), nothing parsed.
      principals.set(request, await principalOf(request, (context as { req?: IncomingMessage }).req));
    },
    onValidate({ context, params }) {
      const { request } = context as unknown as { request?: Request; params?: { operationName?: string | null } };
      if (request === undefined || principals.get(request) !== null) return;
      const operationName = (context as unknown as { params?: { operationName?: string | null } }).params
        ?.operationName;
      if (isIntrospectionOnly(params.documentAST, operationName)) return;
      // Thrown, not set as the validation result: Yoga keeps validation results per document,
      // and one anonymous request must not make a document fail for every caller after it.
      throw new AuthenticationError(MISSING_CREDENTIALS);
    },
    onExecute({ args, setResultAndStopExecution }) {
      // Also here, for any path that reaches execution without the checks above.
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
