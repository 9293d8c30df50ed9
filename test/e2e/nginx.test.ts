// A real nginx with auth_request in front of a small upstream: Keygate decides
// who gets through, and the upstream learns who the caller is.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKey } from '@keygate/schema/domain';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Nginx, startNginx } from '../support/nginx.ts';
import { startTestServer, type TestServer } from '../support/server-harness.ts';

let keygate: TestServer;
let nginx: Nginx;
let upstream: Server;
const seen: IncomingHttpHeaders[] = [];
const secrets: Record<string, string> = {};
const ids: Record<string, string> = {};

const CREATE_APP = `mutation { createApplication(input: { name: "API" }) { ... on ApplicationPayload { application { id } } } }`;
const CREATE_KEY = `mutation($input: CreateKeyInput!) { createKey(input: $input) { ... on CreateKeyPayload { secret key { id } } } }`;

beforeAll(async () => {
  keygate = await startTestServer({ KEYGATE_TRUSTED_PROXIES: '127.0.0.1' });
  upstream = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ merchant: req.headers['x-keygate-merchant-id'] }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  nginx = await startNginx(Number(new URL(keygate.url).port), (upstream.address() as AddressInfo).port);

  const token = await keygate.merchantToken('acme');
  const app = (await keygate.graphql(token, CREATE_APP)).data.createApplication.application.id;
  for (const [name, input] of Object.entries({
    full: { access: 'FULL_ACCESS', scopes: ['orders:write'] },
    readOnly: { access: 'READ_ONLY' },
    revoked: {},
    ipDenied: {},
  })) {
    const created = (await keygate.graphql(token, CREATE_KEY, { input: { applicationId: app, name, ...input } })).data
      .createKey;
    secrets[name] = created.secret;
    ids[name] = created.key.id;
  }
  await keygate.graphql(token, `mutation($id: ID!) { revokeKey(input: { id: $id }) { __typename } }`, {
    id: ids.revoked,
  });
  await keygate.graphql(token, `mutation($input: SetIpRulesInput!) { setIpRules(input: $input) { __typename } }`, {
    input: { keyId: ids.ipDenied, rules: [{ cidr: '127.0.0.0/8', action: 'DENY' }] },
  });
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  upstream?.close();
  await keygate?.close();
});

const call = (method: string, headers: Record<string, string>) => fetch(`${nginx.url}/orders`, { method, headers });

it('lets a valid key through to the upstream with identity headers', async () => {
  const before = seen.length;
  const response = await call('POST', { authorization: `Bearer ${secrets.full}` });
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ merchant: 'acme' });
  expect(seen.length).toBe(before + 1);
  expect(seen.at(-1)).toMatchObject({
    'x-keygate-key-id': ids.full,
    'x-keygate-merchant-id': 'acme',
    'x-keygate-environment': 'LIVE',
    'x-keygate-access': 'FULL_ACCESS',
    'x-keygate-scopes': 'orders:write',
  });
  // The key itself is not passed on to the upstream.
  expect(seen.at(-1)?.authorization).toBeUndefined();
});

it('refuses unknown, malformed, missing, revoked and IP-denied keys, and reads with read-only keys only', async () => {
  const before = seen.length;
  const cases: [string, Record<string, string>, number][] = [
    ['GET', { 'x-api-key': generateKey('live').secret }, 401],
    ['GET', { 'x-api-key': 'kg_live_typo' }, 401],
    ['GET', {}, 401],
    ['GET', { authorization: `ApiKey ${secrets.revoked}` }, 401],
    ['GET', { 'x-api-key': secrets.ipDenied! }, 403],
    ['DELETE', { 'x-api-key': secrets.readOnly! }, 403],
  ];
  for (const [method, headers, status] of cases) {
    expect((await call(method, headers)).status, JSON.stringify([method, headers])).toBe(status);
  }
  expect(seen.length).toBe(before);
  expect((await call('GET', { 'x-api-key': secrets.readOnly! })).status).toBe(200);
});

it('stops a key at the gateway as soon as it is revoked', async () => {
  expect((await call('GET', { 'x-api-key': secrets.full! })).status).toBe(200);
  const token = await keygate.merchantToken('acme');
  await keygate.graphql(token, `mutation($id: ID!) { revokeKey(input: { id: $id }) { __typename } }`, { id: ids.full });
  expect((await call('GET', { 'x-api-key': secrets.full! })).status).toBe(401);
});
