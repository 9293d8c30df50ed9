// clientAddress: where a merchant's request comes from, as Keygate sees it, for the dashboard's
// "add my address" IP rule. Forwarded addresses count only from trusted proxies, as everywhere.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let direct: TestServer;
let proxied: TestServer;
beforeAll(async () => {
  direct = await startTestServer();
  proxied = await startTestServer({ KEYGATE_TRUSTED_PROXIES: '127.0.0.1' });
});
afterAll(async () => {
  await direct?.close();
  await proxied?.close();
});

async function ask(server: TestServer, headers: Record<string, string>, token: string | null) {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify({ query: '{ clientAddress }' }),
  });
  return (await response.json()) as { data?: { clientAddress: string | null } | null; errors?: unknown[] };
}

it("answers the caller's address, and a client's own X-Forwarded-For only through a trusted proxy", async () => {
  const token = await direct.merchantToken('acme');
  expect((await ask(direct, {}, token)).data?.clientAddress).toBe('127.0.0.1');
  // Not behind a trusted proxy: a claimed address changes nothing.
  expect((await ask(direct, { 'x-forwarded-for': '203.0.113.9' }, token)).data?.clientAddress).toBe('127.0.0.1');
  const viaProxy = await ask(proxied, { 'x-forwarded-for': '203.0.113.9' }, await proxied.merchantToken('acme'));
  expect(viaProxy.data?.clientAddress).toBe('203.0.113.9');
});

it('is for signed-in merchants only', async () => {
  const anonymous = await ask(direct, {}, null);
  expect(anonymous.data?.clientAddress ?? null).toBeNull();
  expect(anonymous.errors?.length).toBeGreaterThan(0);
});
