// A key's secret appears once, in the createKey response, and nowhere else:
// not in any database row, not in any later response.
import { hashKey } from '@keygate/core';
import { expect, test } from '../support/fixtures.ts';
import {
  API_KEY,
  APPLICATION_KEYS,
  APPLICATIONS,
  createApplication,
  createKey,
  EDIT_KEY,
  REVOKE_KEY,
  SET_IP_RULES,
} from '../support/operations.ts';

test('is returned once, stored nowhere, and never returned again', async ({ h }) => {
  const acme = await h.as('acme');
  const app = await createApplication(acme, 'Web store');
  const created = await Promise.all(
    [1, 2, 3].map((i) => createKey(acme, app.id, { name: `key ${i}`, environment: i === 2 ? 'TEST' : 'LIVE' })),
  );
  const secrets = created.map((c) => c.secret);
  // What is special about a secret is its random part; the visible prefix is meant to be shown.
  const randomParts = secrets.map((s) => s.slice(s.indexOf('_', 3) + 1));

  const dump = await h.db.dumpAllTables();
  for (const [i, secret] of secrets.entries()) {
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(randomParts[i]!.slice(4, 20));
    expect(dump).toContain(hashKey(secret));
  }

  const { key } = created[0]!;
  const later = [
    await acme.request(API_KEY, { id: key.id }),
    await acme.request(APPLICATIONS, { first: 10 }),
    await acme.request(APPLICATION_KEYS, { applicationId: app.id, first: 10 }),
    await acme.request(`{ node(id: "${key.id}") { ... on ApiKey { prefix name } } }`),
    await acme.request(EDIT_KEY, { input: { id: key.id, name: 'renamed' } }),
    await acme.request(SET_IP_RULES, { input: { keyId: key.id, rules: [{ cidr: '10.0.0.0/8', action: 'ALLOW' }] } }),
    await acme.request(REVOKE_KEY, { input: { id: key.id } }),
  ];
  for (const response of later) {
    expect(response.errors).toBeUndefined();
    for (const part of randomParts) expect(response.raw).not.toContain(part.slice(4, 20));
  }
});

test('has no field in the schema through which a stored key could return its secret or hash', async ({ h }) => {
  const acme = await h.as('acme');
  const { __type } = await acme.gql('{ __type(name: "ApiKey") { fields { name } } }');
  const names = __type.fields.map((f: { name: string }) => f.name);
  expect(names).toContain('prefix');
  expect(names.filter((n: string) => /secret|hash/i.test(n))).toEqual([]);
});
