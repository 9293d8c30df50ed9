// Logs: one JSON object per line, with request ids, and no secret or token in
// them, whatever the traffic.
import {
  CreateApplicationDocument,
  CreateKeyDocument,
  VerifyKeyDocument,
  ViewerDocument,
} from '@keygate/sdk/documents';
import { afterAll, expect, it } from 'vitest';
import { graphql, runCli, startKeygate, tempDirs } from '../support/process.ts';
import { ok } from '../support/results.ts';

const dirs = tempDirs('keygate-logs-');
afterAll(dirs.removeAll);

it('writes structured lines with request ids and never a secret or a token', async () => {
  const env = { KEYGATE_DATA_DIR: dirs.make(), LOG_LEVEL: 'debug' };
  const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
  const service = runCli('src/cli/token.ts', ['--verifier'], env).stdout;
  const server = await startKeygate(env);
  const secrets: string[] = [];
  try {
    const app = ok(
      (await graphql(server.url, token, CreateApplicationDocument, { input: { name: 'Logged' } })).body.data
        .createApplication,
    ).application.id;
    for (let i = 0; i < 5; i++) {
      const { body } = await graphql(server.url, token, CreateKeyDocument, {
        input: { applicationId: app, name: 'k' },
      });
      secrets.push(ok(body.data.createKey).secret);
    }
    for (const secret of secrets) {
      await fetch(`${server.url}/v1/auth`, { headers: { authorization: `Bearer ${secret}` } });
      await graphql(server.url, service, VerifyKeyDocument, { input: { key: secret } });
    }
    await graphql(server.url, 'not.a.token', ViewerDocument);
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        'x-request-id': 'trace-123',
        origin: 'https://dashboard.example.com',
      },
      body: JSON.stringify({ query: 'query Who { viewer { merchantId } }' }),
    });
    expect(response.status).toBe(200);
    // The caller gets its id back, and a browser dashboard may read it.
    expect(response.headers.get('x-request-id')).toBe('trace-123');
    expect(response.headers.get('access-control-expose-headers')).toMatch(/X-Request-Id/);
  } finally {
    await server.stop();
  }
  const lines = server.output().trim().split('\n');
  const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  for (const entry of entries)
    expect(entry).toMatchObject({ level: expect.any(Number), time: expect.any(String), msg: expect.any(String) });
  expect(entries).toContainEqual(
    expect.objectContaining({ msg: 'graphql', requestId: 'trace-123', operation: 'Who', merchant: 'acme' }),
  );
  expect(entries.filter((e) => e.msg === 'graphql').every((e) => typeof e.requestId === 'string')).toBe(true);
  expect(entries).toContainEqual(
    expect.objectContaining({ msg: 'credentials refused', requestId: expect.any(String), reason: expect.any(String) }),
  );
  const all = server.output();
  for (const secret of secrets) {
    expect(all).not.toContain(secret);
    expect(all).not.toContain(secret.slice(12));
  }
  for (const jwt of [token, service]) expect(all).not.toContain(jwt.split('.')[2]!);
  expect(all).not.toContain('not.a.token');
});
