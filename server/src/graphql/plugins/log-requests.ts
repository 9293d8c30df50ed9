// One log line per GraphQL request (never its body or answer).
import type { Context } from '@keygate/schema';
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../../observability/logger.ts';

/** One line per GraphQL request: who, which operation, how it ended, how long it took. */
export function logRequests(logger: Logger): Plugin<Context> {
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
