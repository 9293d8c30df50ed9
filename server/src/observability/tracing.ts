// OpenTelemetry tracing, off unless the standard OTEL_* variables turn it on.
//
// Keygate's code creates spans through @opentelemetry/api only: GraphQL operations,
// the database query behind a cache miss, and key-change announcements (sent and
// received), each with the request id as `keygate.request_id`. While tracing is off,
// `tracing.enabled` is false and those places do no tracing work at all; the SDK is
// not even loaded (it is imported when tracing starts).
//
// On when OTEL_TRACES_EXPORTER names an exporter (otlp, console), or when an OTLP
// endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none keeps it off. The OTLP exporter
// sends JSON over HTTP (http/json) and reads its own endpoint, headers and timeout
// variables; OTEL_SERVICE_NAME (default keygate), OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG apply as the specification says.

import type { IncomingHttpHeaders } from 'node:http';
import {
  type Attributes,
  context,
  createContextKey,
  type Link,
  type Context as OtelContext,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { ConfigError } from '../config.ts';

export const tracer = trace.getTracer('keygate');

/** Read on the hot paths: no tracing work at all while false. */
export const tracing = { enabled: false };

const REQUEST_ID = createContextKey('keygate.request_id');

export type Sampler =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

export interface TracingConfig {
  exporters: ('otlp' | 'console')[];
  sampler: Sampler;
  /** The ratio for the traceidratio samplers, 0 to 1. */
  ratio: number;
}

const SAMPLERS = new Set<string>([
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
]);

/** What the OTEL_* variables ask for; null when tracing stays off. */
export function tracingConfig(env: Record<string, string | undefined> = process.env): TracingConfig | null {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return null;
  const named = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  if (named.includes('none')) return null;
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const exporters = named.length > 0 ? named : endpoint ? ['otlp'] : [];
  if (exporters.length === 0) return null;
  for (const name of exporters) {
    if (name !== 'otlp' && name !== 'console') {
      throw new ConfigError(`OTEL_TRACES_EXPORTER: "${name}" is not an exporter Keygate has (otlp, console, none)`);
    }
  }
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/json').trim();
  if (exporters.includes('otlp') && protocol !== 'http/json') {
    throw new ConfigError(
      `OTEL_EXPORTER_OTLP_PROTOCOL: Keygate's OTLP exporter sends http/json (collectors accept it on port 4318), not ${protocol}`,
    );
  }
  const sampler = (env.OTEL_TRACES_SAMPLER || 'parentbased_always_on').trim().toLowerCase();
  if (!SAMPLERS.has(sampler)) {
    throw new ConfigError(`OTEL_TRACES_SAMPLER: "${sampler}" is not one of ${[...SAMPLERS].join(', ')}`);
  }
  const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  const ratio = arg ? Number(arg) : 1;
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG: "${arg}" is not a ratio from 0 to 1`);
  }
  return { exporters: exporters as TracingConfig['exporters'], sampler: sampler as Sampler, ratio };
}

export interface Tracing {
  /** Exports what is still buffered and stops tracing. */
  shutdown(): Promise<void>;
}

/**
 * Installs the SDK as the global tracer provider, with W3C trace-context propagation.
 * `exporter` replaces the configured ones and exports each span as it ends (tests).
 */
export async function startTracing(config: TracingConfig, exporter?: SpanExporter): Promise<Tracing> {
  const sdk = await import('@opentelemetry/sdk-trace');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { detectResources, envDetector, resourceFromAttributes } = await import('@opentelemetry/resources');
  const processors = [];
  if (exporter) processors.push(new sdk.SimpleSpanProcessor({ exporter }));
  else {
    for (const name of config.exporters) {
      if (name === 'console') processors.push(new sdk.SimpleSpanProcessor({ exporter: new sdk.ConsoleSpanExporter() }));
      else {
        const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
        processors.push(new sdk.BatchSpanProcessor({ exporter: new OTLPTraceExporter() }));
      }
    }
  }
  const ratio = new sdk.TraceIdRatioBasedSampler(config.ratio);
  const root = {
    always_on: new sdk.AlwaysOnSampler(),
    always_off: new sdk.AlwaysOffSampler(),
    traceidratio: ratio,
  };
  const sampler = config.sampler.startsWith('parentbased_')
    ? new sdk.ParentBasedSampler({ root: root[config.sampler.slice('parentbased_'.length) as keyof typeof root] })
    : root[config.sampler as keyof typeof root];
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the environment detector) win over the defaults.
  const resource = resourceFromAttributes({ 'service.name': 'keygate' }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  const provider = new sdk.TracerProvider({ resource, sampler, spanProcessors: processors });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  trace.setGlobalTracerProvider(provider);
  tracing.enabled = true;
  return {
    async shutdown() {
      tracing.enabled = false;
      await provider.shutdown().catch(() => {});
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/** The request id of the operation the current code runs for, if any. */
export function currentRequestId(): string | undefined {
  return context.active().getValue(REQUEST_ID) as string | undefined;
}

const headerGetter = {
  keys: (headers: Headers) => [...headers.keys()],
  get: (headers: Headers, key: string) => headers.get(key) ?? undefined,
};

/**
 * A GraphQL operation's span ("mutation createKey"), child of the caller's traceparent, and
 * the context to run the operation in: its spans nest under it and carry the request id.
 * Used by the normal path (plugins/tracing.ts) and verifyKey's fast path alike.
 */
export function operationSpan(
  type: string,
  name: string | undefined,
  headers: Headers,
  requestId: string,
  attributes: Attributes = {},
): { span: Span; context: OtelContext } {
  const parent = propagation.extract(context.active(), headers, headerGetter);
  const span = tracer.startSpan(
    name ? `${type} ${name}` : type,
    {
      kind: SpanKind.SERVER,
      attributes: {
        'graphql.operation.type': type,
        ...(name ? { 'graphql.operation.name': name } : {}),
        ...attributes,
        'keygate.request_id': requestId,
      },
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span).setValue(REQUEST_ID, requestId) };
}

const REQUEST_ID_HEADER = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The context a forward-auth check runs in: the gateway's traceparent as parent and its
 * X-Request-Id, so that a cache miss's query joins the gateway's trace. No span of its own:
 * one per verification would cost more than the verification.
 */
export function forwardAuthContext(headers: IncomingHttpHeaders): OtelContext {
  const parent = propagation.extract(context.active(), headers);
  const id = headers['x-request-id'];
  return typeof id === 'string' && REQUEST_ID_HEADER.test(id) ? parent.setValue(REQUEST_ID, id) : parent;
}

/** Runs `work` in a child span of the current context (tracing must be on: check `tracing.enabled`). */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; links?: Link[] },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const requestId = currentRequestId();
  const attributes = requestId ? { ...options.attributes, 'keygate.request_id': requestId } : options.attributes;
  return tracer.startActiveSpan(name, { ...options, attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      failed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** What a key change's spans say about it (counts and the application; never a hash). */
export function changeAttributes(change: {
  keyIds?: readonly string[];
  applicationId?: string;
  hashes?: readonly string[];
}): Attributes {
  return {
    'keygate.change.keys': change.keyIds?.length ?? 0,
    ...(change.applicationId ? { 'keygate.change.application_id': change.applicationId } : {}),
  };
}

/**
 * A span from a change's announcement (inside its transaction) until every instance has it
 * (settled) or the transaction gave up (cancelled); null while tracing is off.
 */
export function announcementSpan(attributes: Attributes): Span | null {
  if (!tracing.enabled) return null;
  const requestId = currentRequestId();
  return tracer.startSpan('keygate.change.announce', {
    kind: SpanKind.PRODUCER,
    attributes: requestId ? { ...attributes, 'keygate.request_id': requestId } : attributes,
  });
}

export function failed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/** The current span's W3C traceparent, to link work done elsewhere (another instance) to it. */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** A link to the span a traceparent names (from another instance's announcement). */
export function linkTo(traceparent: string | undefined): Link[] {
  if (!traceparent) return [];
  const spanContext = trace.getSpanContext(propagation.extract(context.active(), { traceparent }));
  return spanContext ? [{ context: spanContext }] : [];
}

export { SpanKind, SpanStatusCode };
