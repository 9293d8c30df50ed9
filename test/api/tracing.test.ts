// OpenTelemetry tracing, with the SDK's in-memory exporter in place of OTLP: a span per
// GraphQL operation (the verifyKey fast path included), the database query of a cache
// miss under it, change announcements (and, on PostgreSQL, their receipt on another
// instance, linked), each with the request id; the caller's traceparent is the parent.
import { generateKey } from '@keygate/core';
import { createKeygateClient } from '@keygate/sdk';
import { startTracing, type Tracing, tracingConfig } from '@keygate/server';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  tracing = await startTracing(tracingConfig({ OTEL_TRACES_EXPORTER: 'console' })!, exporter);
  a = await startTestServer();
  b = await startTestServer({}, a.db);
});
afterAll(async () => {
  await b?.close();
  await a?.close();
  await tracing?.shutdown();
});
beforeEach(() => exporter.reset());

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const traceparent = `00-${TRACE_ID}-${PARENT_ID}-01`;

const spans = () => exporter.getFinishedSpans();
const named = (name: string) => spans().filter((span) => span.name === name);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

async function post(server: TestServer, token: string, query: string, variables: object, headers = {}) {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data: any };
}

async function setup() {
  const token = await a.merchantToken('acme');
  const sdk = createKeygateClient({ url: `${a.url}/graphql`, token });
  const app = await sdk.applications.create({ name: `Traced ${Math.random()}` });
  if (!app.ok) throw new Error('setup');
  const key = await sdk.keys.create({ applicationId: app.value.id, name: 'k' });
  if (!key.ok) throw new Error('setup');
  return { token, app: app.value, key: key.value };
}

describe('tracing', () => {
  it('gives each GraphQL operation a span under the caller’s traceparent, with the request id', async () => {
    const token = await a.merchantToken('acme');
    const result = await post(
      a,
      token,
      'mutation Make($input: CreateApplicationInput!) { createApplication(input: $input) { __typename } }',
      { input: { name: `Traced op ${Math.random()}` } },
      { traceparent, 'x-request-id': 'req-trace-1' },
    );
    expect(result.data.createApplication.__typename).toBe('ApplicationPayload');
    const [span] = named('mutation Make');
    expect(span).toBeDefined();
    expect(span!.spanContext().traceId).toBe(TRACE_ID);
    expect(parentOf(span!)).toBe(PARENT_ID);
    expect(span!.attributes).toMatchObject({
      'graphql.operation.type': 'mutation',
      'graphql.operation.name': 'Make',
      'keygate.request_id': 'req-trace-1',
      'keygate.merchant_id': 'acme',
    });
    expect(span!.resource.attributes['service.name']).toBe('keygate');
    // The audit write and the event are not spans of their own; nothing changed how keys verify.
    expect(spans().map((s) => s.name)).toEqual(['mutation Make']);
  });

  it('puts the database query of a cache miss under the verifyKey operation, and none on a hit', async () => {
    const { key } = await setup();
    exporter.reset();
    const verifier = await a.verifierToken();
    const query =
      'mutation Check($key: String!) { verifyKey(input: { key: $key }) { ... on KeyVerification { valid code } } }';
    const first = await post(a, verifier, query, { key: key.secret }, { traceparent, 'x-request-id': 'req-miss' });
    expect(first, JSON.stringify(first)).toEqual({ data: { verifyKey: { valid: true, code: 'VALID' } } });
    const [operation] = named('mutation Check');
    const [load] = named('keygate.key.load');
    expect(operation?.attributes['keygate.request_id']).toBe('req-miss');
    expect(load).toBeDefined();
    expect(parentOf(load!)).toBe(operation!.spanContext().spanId);
    expect(load!.spanContext().traceId).toBe(TRACE_ID);
    expect(load!.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'keygate.cache': 'miss',
      'keygate.key.found': true,
      'keygate.request_id': 'req-miss',
    });
    // Never the secret, nor its hash, in any attribute.
    expect(JSON.stringify(spans().map((s) => s.attributes))).not.toContain(key.secret.slice(-20));

    exporter.reset();
    await post(a, verifier, query, { key: key.secret }, { 'x-request-id': 'req-hit' });
    expect(named('mutation Check')).toHaveLength(1);
    expect(named('keygate.key.load')).toHaveLength(0);
  });

  it('joins a forward-auth cache miss to the gateway’s trace and request id', async () => {
    const secret = generateKey('live').secret;
    const answer = await a.forwardAuth({ 'x-api-key': secret, traceparent, 'x-request-id': 'gw-42' });
    expect(answer.status).toBe(401);
    const [load] = named('keygate.key.load');
    expect(load?.spanContext().traceId).toBe(TRACE_ID);
    expect(parentOf(load!)).toBe(PARENT_ID);
    expect(load!.attributes).toMatchObject({ 'keygate.request_id': 'gw-42', 'keygate.key.found': false });
  });

  it('traces a change’s announcement under its mutation, and its receipt on another instance', async () => {
    const { token, key } = await setup();
    exporter.reset();
    const revoked = await post(
      a,
      token,
      'mutation Revoke($input: RevokeKeyInput!) { revokeKey(input: $input) { __typename } }',
      { input: { id: key.key.id } },
      { 'x-request-id': 'req-revoke' },
    );
    expect(revoked.data.revokeKey.__typename).toBe('ApiKeyPayload');
    const [mutation] = named('mutation Revoke');
    const announced = named('keygate.change.announce');
    expect(announced).toHaveLength(1);
    expect(parentOf(announced[0]!)).toBe(mutation!.spanContext().spanId);
    expect(announced[0]!.attributes).toMatchObject({ 'keygate.request_id': 'req-revoke', 'keygate.change.keys': 1 });
    if (a.db.storage.kind === 'postgres') {
      expect(announced[0]!.attributes['keygate.change.transport']).toBe('postgres-notify');
      // Both instances received it (the announcer waits for its own echo): two receipts, each its
      // own trace, linked to the announcement, with the announcing request's id.
      await expect.poll(() => named('keygate.change.receive').length).toBe(2);
      for (const receipt of named('keygate.change.receive')) {
        expect(receipt.links[0]?.context.spanId).toBe(announced[0]!.spanContext().spanId);
        expect(receipt.attributes['keygate.request_id']).toBe('req-revoke');
        expect(receipt.attributes['keygate.change.delay_ms']).toBeGreaterThanOrEqual(0);
      }
    } else {
      expect(announced[0]!.attributes['keygate.change.transport']).toBe('local');
    }
  });
});

describe('tracingConfig: the OTEL_* variables', () => {
  it('is off by default, and when disabled or set to none', () => {
    expect(tracingConfig({})).toBeNull();
    expect(tracingConfig({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' })).toBeNull();
    expect(tracingConfig({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBeNull();
  });

  it('is on with an exporter or an OTLP endpoint, with the specification’s samplers', () => {
    expect(tracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({
      exporters: ['otlp'],
      sampler: 'parentbased_always_on',
      ratio: 1,
    });
    expect(
      tracingConfig({
        OTEL_TRACES_EXPORTER: 'otlp,console',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
      }),
    ).toEqual({ exporters: ['otlp', 'console'], sampler: 'parentbased_traceidratio', ratio: 0.25 });
  });

  it('refuses what it cannot do, saying which variable and why', () => {
    expect(() => tracingConfig({ OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow(/OTEL_TRACES_EXPORTER: "zipkin"/);
    expect(() => tracingConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(
      /sends http\/json/,
    );
    expect(() => tracingConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(
      /OTEL_TRACES_SAMPLER/,
    );
    expect(() => tracingConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER_ARG: '2' })).toThrow(
      /OTEL_TRACES_SAMPLER_ARG/,
    );
  });
});
