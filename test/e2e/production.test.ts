// The production command, `node server/dist/main.js`, as docs/operations.md runs it:
// the whole flow works from the bundle (Prisma's query compiler read from dist/, GraphiQL loaded
// at its first visit), on PostgreSQL and embedded.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  RevokeKeyDocument as REVOKE,
} from '@keygate/sdk/documents';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../support/database.ts';
import { graphql, repoRoot, runCli, startKeygate, tempDirs } from '../support/process.ts';
import { ok } from '../support/results.ts';

const dirs = tempDirs();
afterAll(dirs.removeAll);

const production = [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')];

describe.each([
  ['PostgreSQL', true],
  ['embedded', false],
])('the built server on %s', (_name, postgres) => {
  it('creates, verifies and revokes a key, and serves GraphiQL', async () => {
    const env: Record<string, string> = {
      KEYGATE_DATA_DIR: dirs.make(),
      KEYGATE_JWT_SECRET: 'x'.repeat(40),
      // As docs/operations.md's production command runs it (on PostgreSQL); embedded, as a trial would.
      ...(postgres ? { DATABASE_URL: await createPostgresDatabase(), NODE_ENV: 'production' } : {}),
    };
    const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
    const server = await startKeygate(env, production, repoRoot);
    try {
      const app = ok(
        (await graphql(server.url, token, CREATE_APP, { input: { name: 'Shop' } })).body.data.createApplication,
      ).application.id;
      const created = (await graphql(server.url, token, CREATE_KEY, { input: { applicationId: app, name: 'k' } })).body
        .data.createKey;
      const verify = () => fetch(`${server.url}/v1/auth`, { headers: { 'x-api-key': ok(created).secret } });
      expect((await verify()).status).toBe(200);
      expect(
        (await graphql(server.url, token, REVOKE, { input: { id: ok(created).key.id } })).body.data.revokeKey
          .__typename,
      ).toBe('ApiKeyPayload');
      const refused = await verify();
      expect([refused.status, refused.headers.get('x-keygate-code')]).toEqual([401, 'REVOKED']);

      const page = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
      if (postgres) {
        // Production: no GraphiQL unless KEYGATE_GRAPHIQL=1, and a page that says so.
        expect([page.status, await page.text()]).toEqual([404, expect.stringContaining('KEYGATE_GRAPHIQL=1')]);
      } else {
        expect(page.status).toBe(200);
        const html = await page.text();
        expect(html).toContain('<title>Keygate</title>');
        expect(html).toContain('createApplication'); // the walkthrough
        expect(page.headers.get('content-security-policy')).toMatch(
          /script-src 'sha256-[^']+'.*frame-ancestors 'none'/,
        );
      }
      // The dashboard, from web/dist; with a real secret, nobody may mint tokens through it.
      expect(await (await fetch(`${server.url}/applications`)).text()).toContain('<div id="root">');
      expect(await (await fetch(`${server.url}/dashboard/config.json`)).json()).toEqual({
        devSignIn: false,
        embedOrigins: [],
        integration: { apiUrl: 'https://api.example.com', keyHeader: 'Authorization' },
      });
      const mint = await fetch(`${server.url}/dashboard/sign-in-as`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ merchantId: 'acme' }),
      });
      expect(mint.status).toBe(404);
      expect(server.output()).not.toMatch(/error|warn/i);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});

describe('tracing on the built server, switched on as an operator does: OTEL_* variables', () => {
  it('exports GraphQL operation spans over OTLP/HTTP, the last ones at SIGTERM', async () => {
    // A collector's OTLP/HTTP receiver: POST /v1/traces with JSON (http/json).
    const received: { path: string; contentType: string; body: any }[] = [];
    const collector = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        received.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', body: JSON.parse(body) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const env = {
      KEYGATE_DATA_DIR: dirs.make(),
      KEYGATE_JWT_SECRET: 'x'.repeat(40),
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      OTEL_SERVICE_NAME: 'keygate-eu-1',
    };
    const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
    const server = await startKeygate(env, production, repoRoot);
    try {
      expect(server.output()).toContain('tracing on: otlp exporter, parentbased_always_on sampler');
      const created = await graphql(server.url, token, CREATE_APP, { input: { name: 'Traced' } });
      expect(created.body.data.createApplication.__typename).toBe('ApplicationPayload');
    } finally {
      // The batch is not due yet: the graceful shutdown exports it.
      expect(await server.stop()).toBe(0);
      collector.close();
    }
    expect(received.length).toBeGreaterThan(0);
    expect(received.every((r) => r.path === '/v1/traces' && r.contentType.startsWith('application/json'))).toBe(true);
    const resourceSpans = received.flatMap((r) => r.body.resourceSpans);
    const spans = resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans));
    const operation = spans.find((span: any) => span.name === 'mutation CreateApplication');
    expect(operation, JSON.stringify(spans.map((span: any) => span.name))).toBeDefined();
    const attribute = (name: string) => operation.attributes.find((a: any) => a.key === name)?.value.stringValue;
    expect(attribute('graphql.operation.name')).toBe('CreateApplication');
    expect(attribute('keygate.request_id')).toMatch(/^[0-9a-f-]{36}$/);
    const service = resourceSpans[0].resource.attributes.find((a: any) => a.key === 'service.name');
    expect(service.value.stringValue).toBe('keygate-eu-1');
  });
});
