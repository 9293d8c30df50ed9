// The Keygate HTTP application: GraphQL (with GraphiQL) at /graphql.

import type { IncomingMessage } from 'node:http';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { type Context, schema } from '@keygate/schema';
import { type DocumentNode, getOperationAST, Kind, type OperationDefinitionNode } from 'graphql';
import { createYoga, type Plugin } from 'graphql-yoga';
import { costLimit, documentLimits, LIMITS } from './abuse-limits.ts';
import { AuthenticationError, MISSING_CREDENTIALS } from './auth.ts';
import { type ContextServices, createContextFactory } from './context.ts';
import { GRAPHIQL_WALKTHROUGH } from './graphiql-walkthrough.ts';
import { type Logger, silentLogger } from './logger.ts';
import { requestIds } from './request-id.ts';
import { verifyKeyFastPath } from './verification/graphql-fast-path.ts';
import type { Verifier } from './verification/verifier.ts';

export interface AppOptions extends ContextServices {
  graphiql?: boolean;
  /** Hide field suggestions in error messages (production). */
  hideSuggestions?: boolean;
  /** Allow schema introspection (GraphiQL and codegen need it); on unless set false. */
  introspection?: boolean;
  /** The verifier behind verifyKey's compiled fast path (see graphql-fast-path.ts); without it, none. */
  fastVerifier?: Verifier;
}

export function createApp(options: AppOptions) {
  return createYoga<{ req?: IncomingMessage }, Context>({
    schema,
    context: createContextFactory(options),
    graphqlEndpoint: '/graphql',
    graphiql: options.graphiql === false ? false : { title: 'Keygate', defaultQuery: GRAPHIQL_WALKTHROUGH },
    // Served from this server, not a CDN: no third-party script on a key-management page, and it works offline.
    renderGraphiQL,
    landingPage: false,
    maxRequestBodySize: LIMITS.body,
    // Any origin may call (credentials are bearer tokens, not cookies); browsers may read the request id.
    cors: { exposedHeaders: ['X-Request-Id', 'Retry-After'] },
    logging: options.logger ?? silentLogger,
    plugins: [
      requestIds(),
      ...documentLimits({
        hideSuggestions: options.hideSuggestions ?? false,
        introspection: options.introspection ?? true,
      }),
      ...(options.fastVerifier ? [verifyKeyFastPath(schema, options.authenticate, options.fastVerifier)] : []),
      requireAuthentication(),
      costLimit(options.settings.maxPageSize),
      logRequests(options.logger ?? silentLogger),
    ],
  });
}

/** One line per GraphQL request: who, which operation, how it ended, how long it took. */
function logRequests(logger: Logger): Plugin<Context> {
  return {
    onExecute({ args }) {
      const started = performance.now();
      const { viewer, service, request } = args.contextValue;
      return {
        onExecuteDone({ result }) {
          const errors = 'errors' in result && Array.isArray(result.errors) ? result.errors : [];
          logger.info(
            {
              requestId: request?.id,
              clientIp: request?.ip,
              operation: args.operationName ?? getOperationAST(args.document)?.name?.value ?? null,
              merchant: viewer?.merchantId,
              service: service ? (service.subject ?? 'verifier') : undefined,
              errors: errors.length
                ? errors.map((e: { extensions?: { code?: unknown } }) => e.extensions?.code ?? 'ERROR')
                : undefined,
              ms: Math.round((performance.now() - started) * 10) / 10,
            },
            'graphql',
          );
        },
      };
    },
  };
}

/**
 * Everything but schema introspection needs a merchant token. Checked before
 * execution, so an anonymous request never reaches validation or a resolver.
 */
function requireAuthentication(): Plugin<Context> {
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
