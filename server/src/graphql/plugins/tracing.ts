// A span per GraphQL operation while tracing is on (see ../tracing.ts): named after the
// operation ("mutation createKey"), child of the caller's traceparent, with the request id,
// the merchant and any error codes. Resolvers run in its context, so the database query of
// a cache miss and a change's announcement nest under it.
import type { Context } from '@keygate/schema';
import { context } from '@opentelemetry/api';
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { operationSpan, SpanStatusCode, tracing } from '../../observability/tracing.ts';

export function traceOperations(): Plugin<Context> {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (!tracing.enabled) return;
      const { request, viewer } = args.contextValue;
      const operation = getOperationAST(args.document, args.operationName);
      const type = operation?.operation ?? 'query';
      const name = operation?.name?.value;
      const { span, context: spanContext } = operationSpan(
        type,
        name,
        request?.headers ?? new Headers(),
        request?.id ?? '',
        viewer ? { 'keygate.merchant_id': viewer.merchantId } : {},
      );
      setExecuteFn((executeArgs) => context.with(spanContext, () => executeFn(executeArgs)));
      return {
        onExecuteDone({ result }) {
          const errors = 'errors' in result && Array.isArray(result.errors) ? result.errors : [];
          if (errors.length > 0) {
            const codes = errors.map((e: { extensions?: { code?: unknown } }) => String(e.extensions?.code ?? 'ERROR'));
            span.setAttribute('keygate.error_codes', codes);
            span.setStatus({ code: SpanStatusCode.ERROR, message: codes.join(', ') });
          }
          span.end();
        },
      };
    },
  };
}
