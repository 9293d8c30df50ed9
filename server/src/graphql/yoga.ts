// The Keygate HTTP application: GraphQL (with GraphiQL) at /graphql. Each
// plugin is a file of its own in plugins/, listed here in the order they run.

import type { IncomingMessage } from 'node:http';
import type { KeyVerifier } from '@keygate/core';
import { type Context, schema } from '@keygate/schema';
import { BadRequestError } from '@keygate/services';
import { type DocumentNode, GraphQLError } from 'graphql';
import { createYoga, maskError } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import { silentLogger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { type ContextServices, createContextFactory, createRequestPrincipal } from './context.ts';
import { costLimit, documentLimits, LIMITS } from './plugins/abuse-limits.ts';
import { logRequests } from './plugins/log-requests.ts';
import { operationMetrics } from './plugins/operation-metrics.ts';
import { requestIds } from './plugins/request-ids.ts';
import { requireAuthentication } from './plugins/require-authentication.ts';
import { traceOperations } from './plugins/tracing.ts';
import { verifyKeyFastPath } from './plugins/verify-key-fast-path.ts';

export interface AppOptions extends ContextServices {
  /** Hide field suggestions in error messages (production). */
  hideSuggestions?: boolean;
  /** Allow schema introspection (GraphiQL and codegen need it); on unless set false. */
  introspection?: boolean;
  /** The verifier behind verifyKey's compiled fast path (see graphql-fast-path.ts); without it, none. */
  fastVerifier?: KeyVerifier;
  /** Counts operations by name and error code. */
  metrics?: Metrics;
}

export function createApp(options: AppOptions) {
  const principalOf = createRequestPrincipal(options);
  return createYoga<{ req?: IncomingMessage }, Context>({
    schema,
    context: createContextFactory(options, principalOf),
    graphqlEndpoint: '/graphql',
    // GraphiQL is the server's own route (graphiql.ts): compressed, under a CSP, off in production.
    graphiql: false,
    landingPage: false,
    maxRequestBodySize: LIMITS.body,
    // Yoga keeps parsed documents (and parse errors) by their text; its default keeps 1,024 of
    // each whatever their size, so unique 240 KB documents grew the heap by hundreds of MB.
    // Bounded in bytes here, and large documents are never kept.
    parserAndValidationCache: {
      documentCache: new LRUCache<string, DocumentNode>({
        // A parsed document takes roughly ten times its text.
        maxSize: 16 * 1024 * 1024,
        maxEntrySize: 320 * 1024,
        sizeCalculation: (_document, text) => text.length * 10 + 256,
      }),
      errorCache: new LRUCache<string, object>({
        maxSize: 1024 * 1024,
        maxEntrySize: 16 * 1024,
        sizeCalculation: (_error, text) => text.length + 256,
      }),
    },
    // Any origin may call (credentials are bearer tokens, not cookies); browsers may read the request id.
    cors: { exposedHeaders: ['X-Request-Id', 'Retry-After'] },
    logging: options.logger ?? silentLogger,
    // Unexpected errors stay masked; a service's BadRequestError is the caller's to fix, and says so.
    maskedErrors: {
      maskError(error, message, isDev) {
        const original = error instanceof GraphQLError ? error.originalError : error;
        if (original instanceof BadRequestError) {
          return new GraphQLError(original.message, {
            ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
            extensions: { code: original.code },
          });
        }
        return maskError(error, message, isDev);
      },
    },
    plugins: [
      requestIds(),
      traceOperations(),
      ...documentLimits({
        hideSuggestions: options.hideSuggestions ?? false,
        introspection: options.introspection ?? true,
      }),
      // Credentials are checked when the parameters arrive: before any parse or validation, and
      // before the fast path looks at a document. (Its onValidate runs after the limits' own.)
      requireAuthentication(principalOf),
      ...(options.fastVerifier ? [verifyKeyFastPath(schema, options.fastVerifier)] : []),
      costLimit(options.settings.maxPageSize),
      logRequests(options.logger ?? silentLogger),
      ...(options.metrics ? [operationMetrics(options.metrics)] : []),
    ],
  });
}
