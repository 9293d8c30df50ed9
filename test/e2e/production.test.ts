// The production command, `node server/dist/main.js`, as the README's production section runs it:
// the whole flow works from the bundle (Prisma's query compiler read from dist/, GraphiQL loaded
// at its first visit), on PostgreSQL and embedded.

import { join } from 'node:path';
import {
  CreateApplicationDocument as CREATE_APP,
  CreateKeyDocument as CREATE_KEY,
  RevokeKeyDocument as REVOKE,
} from '@keygate/sdk/documents';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../support/database.ts';
import { graphql, repoRoot, runCli, startKeygate, tempDirs } from '../support/process.ts';

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
      ...(postgres ? { DATABASE_URL: await createPostgresDatabase() } : {}),
    };
    const token = runCli('src/cli/token.ts', ['acme'], env).stdout;
    const server = await startKeygate(env, production, repoRoot);
    try {
      const app = (await graphql(server.url, token, CREATE_APP, { input: { name: 'Shop' } })).body.data
        .createApplication.application.id;
      const created = (await graphql(server.url, token, CREATE_KEY, { input: { applicationId: app, name: 'k' } })).body
        .data.createKey;
      const verify = () => fetch(`${server.url}/v1/auth`, { headers: { 'x-api-key': created.secret } });
      expect((await verify()).status).toBe(200);
      expect(
        (await graphql(server.url, token, REVOKE, { input: { id: created.key.id } })).body.data.revokeKey.__typename,
      ).toBe('ApiKeyPayload');
      const refused = await verify();
      expect([refused.status, refused.headers.get('x-keygate-code')]).toEqual([401, 'REVOKED']);

      const page = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('<title>Keygate</title>');
      expect(html).toContain('createApplication'); // the walkthrough
      expect(server.output()).not.toMatch(/error|warn/i);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
