// The GraphiQL walkthrough as a new user meets it: the page a real server
// serves, its default document run top to bottom (placeholders filled in as
// the comments say), the curl line in it, and lines short enough to read.
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium, watchProblems } from '../support/browser.ts';
import { type KeygateProcess, runCli, startKeygate, tempDirs } from '../support/process.ts';

const dirs = tempDirs('keygate-graphiql-');
let server: KeygateProcess;
let walkthrough: string;
let token: string;

beforeAll(async () => {
  const env = { KEYGATE_DATA_DIR: dirs.make() };
  server = await startKeygate(env);
  token = runCli('src/cli/token.ts', ['acme'], env).stdout;
  const page = await (await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } })).text();
  const options = /querySelector\('#root'\),\s*(\{[\s\S]*?\}),?\s*\);/.exec(page)?.[1];
  walkthrough = JSON.parse(options!).defaultQuery;
}, 60_000);
afterAll(async () => {
  await server?.stop();
  dirs.removeAll();
});

async function run(operationName: string, fill: Record<string, string> = {}) {
  let query = walkthrough;
  for (const [placeholder, value] of Object.entries(fill)) query = query.replaceAll(placeholder, value);
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, operationName }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown };
  expect(body.errors).toBeUndefined();
  return body.data;
}

// At 1,400 px GraphiQL's editor shows 57 characters beside its toolbar (looked at in Chromium).
it('keeps every line short enough for the editor beside the results', () => {
  const long = walkthrough.split('\n').filter((line) => line.length > 56);
  expect(long).toEqual([]);
});

it('walks from an application to a verified, then revoked key, as its comments say', async () => {
  const app = (await run('CreateApplication')).createApplication;
  expect(app.__typename).toBe('ApplicationPayload');
  const created = (await run('CreateKey', { '<application id>': app.application.id })).createKey;
  expect(created.__typename).toBe('CreateKeyPayload');
  const { secret, key } = created;

  const verified = (await run('VerifyKey', { '<secret>': secret })).verifyKey;
  expect(verified).toMatchObject({ __typename: 'KeyVerification', valid: true, code: 'VALID', keyId: key.id });

  // The curl line of the comments, with the port this server listens on.
  const lines = walkthrough.split('\n');
  const at = lines.findIndex((line) => line.includes('curl '));
  const curl = lines
    .slice(at, at + 2)
    .map((line) => line.replace(/^#\s*/, '').replace(/\\$/, ''))
    .join(' ')
    .replace('<secret>', secret);
  // The curl line names this server's own address (it listens on a free port), not the default 4000.
  expect(curl).toContain(`${server.url}/v1/auth`);
  const answer = spawnSync('bash', ['-c', `${curl} -s -i`], { encoding: 'utf8' });
  expect(answer.stdout).toMatch(/^HTTP\/1\.1 200/);
  expect(answer.stdout).toMatch(/x-keygate-code: VALID/i);

  const revoked = (await run('RevokeKey', { '<key id>': key.id })).revokeKey;
  expect(revoked).toMatchObject({ __typename: 'ApiKeyPayload', key: { status: 'REVOKED' } });
  expect((await run('VerifyKey', { '<secret>': secret })).verifyKey).toMatchObject({ valid: false, code: 'REVOKED' });
  const listed = (await run('Applications')).applications;
  expect(listed.totalCount).toBe(1);
  expect(listed.edges[0].node.keys.edges[0].node).toMatchObject({ prefix: key.prefix, status: 'REVOKED' });
});

it('is served compressed, under a CSP, and works in a browser with it (no violation, the schema loads)', async () => {
  const raw = await new Promise<{ headers: Record<string, unknown>; bytes: number }>((resolve, reject) => {
    const req = request(
      `${server.url}/graphql`,
      { headers: { accept: 'text/html', 'accept-encoding': 'gzip' } },
      (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => resolve({ headers: res.headers, bytes }));
      },
    );
    req.on('error', reject);
    req.end();
  });
  expect(raw.headers['content-encoding']).toBe('gzip');
  expect(raw.bytes).toBeLessThan(3_000_000); // 9 MB of page
  expect(String(raw.headers['content-security-policy'])).toContain("frame-ancestors 'none'");

  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const problems = watchProblems(page);
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    const schema = page.waitForResponse(
      (response) => response.url().includes('/graphql') && response.request().method() === 'POST',
    );
    await page.goto(`${server.url}/graphql`);
    // GraphiQL rendered, fetched the schema (introspection, connect-src 'self'), and shows the walkthrough.
    await page.getByText('Welcome to Keygate', { exact: false }).first().waitFor({ timeout: 30_000 });
    await page.locator('.graphiql-container').first().waitFor();
    const introspection = await schema;
    expect(introspection.status()).toBe(200);
    expect(violations).toEqual([]);
    expect(problems).toEqual([]);
  } finally {
    await browser.close();
  }
}, 90_000);
