// 50 concurrent mixed mutations on one application: the result must be a state
// that some serial order of the successful operations produces.

import { localId } from '@keygate/core';
import type { IpRuleInput } from '@keygate/sdk/documents';
import { expect, test } from '../support/fixtures.ts';
import { CREATE_KEY, createApplication, createKey, EDIT_KEY, REVOKE_KEY, SET_IP_RULES } from '../support/operations.ts';

test.override({ harnessOptions: { maxKeysPerApplication: 8 } });

type Op =
  | { kind: 'edit'; key: number; name: string }
  | { kind: 'revoke'; key: number }
  | { kind: 'rules'; key: number; marker: number }
  | { kind: 'create'; name: string };

const rulesFor = (marker: number): IpRuleInput[] => [
  { cidr: `10.${marker}.0.0/16`, action: 'DENY' },
  { cidr: `192.0.2.${marker}`, action: 'ALLOW' },
  { cidr: `2001:db8:${marker.toString(16)}::/48`, action: 'ALLOW' },
];

test('leaves the database in a state a serial order could produce', async ({ h }) => {
  const acme = await h.as('acme');
  const app = await createApplication(acme, 'Busy');
  const keys: string[] = [];
  for (let i = 0; i < 5; i++) keys.push((await createKey(acme, app.id, { name: `initial ${i}` })).key.id);

  const ops: Op[] = [];
  for (let i = 0; i < 50; i++) {
    const key = i % 5;
    const kind = (['edit', 'revoke', 'rules', 'create', 'rules', 'edit'] as const)[(i * 7) % 6]!;
    if (kind === 'edit') ops.push({ kind, key, name: `edit ${i}` });
    else if (kind === 'revoke') ops.push({ kind, key });
    else if (kind === 'rules') ops.push({ kind, key, marker: i });
    else ops.push({ kind, name: `created ${i}` });
  }
  const results = await Promise.all(
    ops.map(async (op) => {
      switch (op.kind) {
        case 'edit':
          return (await acme.gql(EDIT_KEY, { input: { id: keys[op.key]!, name: op.name } })).editKey.__typename;
        case 'revoke':
          return (await acme.gql(REVOKE_KEY, { input: { id: keys[op.key]! } })).revokeKey.__typename;
        case 'rules':
          return (
            await acme.gql(SET_IP_RULES, {
              input: {
                keyId: keys[op.key]!,
                rules: rulesFor(op.marker),
                defaultAction: op.marker % 2 ? 'DENY' : 'ALLOW',
              },
            })
          ).setIpRules.__typename;
        case 'create':
          return (await acme.gql(CREATE_KEY, { input: { applicationId: app.id, name: op.name } })).createKey.__typename;
      }
    }),
  );
  const ok = (i: number) => ['ApiKeyPayload', 'CreateKeyPayload'].includes(results[i]!);
  // Every answer is a typed outcome.
  for (const result of results) {
    expect(['ApiKeyPayload', 'CreateKeyPayload', 'KeyRevokedError', 'KeyLimitReachedError']).toContain(result);
  }

  const stored = await h.db.prisma.apiKey.findMany({
    where: { applicationId: localId(app.id, 'Application')! },
    include: { ipRules: { orderBy: { position: 'asc' } } },
  });
  const byId = new Map(stored.map((k) => [k.id, k]));
  // The limit holds.
  expect(stored.filter((k) => k.revokedAt === null).length).toBeLessThanOrEqual(8);
  // Every key reported as created exists.
  const created = ops.flatMap((op, i) => (op.kind === 'create' && ok(i) ? [op.name] : []));
  for (const name of created) expect(stored.some((k) => k.name === name)).toBe(true);
  expect(stored.length).toBe(5 + created.length);

  for (let k = 0; k < 5; k++) {
    const key = byId.get(localId(keys[k]!, 'ApiKey')!)!;
    const mine = ops.map((op, i) => ({ op, i })).filter(({ op }) => op.kind !== 'create' && op.key === k);
    const revokes = mine.filter(({ op, i }) => op.kind === 'revoke' && ok(i));
    // Exactly one revocation succeeded for a revoked key, none for the others.
    expect(revokes.length).toBe(key.revokedAt ? 1 : 0);
    // The name is the last successful edit's, or the initial one: never a refused edit's.
    const edits = mine
      .filter(({ op, i }) => op.kind === 'edit' && ok(i))
      .map(({ op }) => (op as { name: string }).name);
    expect(edits.length === 0 ? [`initial ${k}`] : edits).toContain(key.name);
    // The rule list is exactly one submitted list, whole and in order, with its own default action.
    const lists = mine
      .filter(({ op, i }) => op.kind === 'rules' && ok(i))
      .map(({ op }) => (op as { marker: number }).marker);
    const actual = key.ipRules.map((r) => ({ cidr: r.cidr, action: r.action }));
    if (lists.length === 0) {
      expect(actual).toEqual([]);
    } else {
      const marker = lists.find(
        (m) =>
          JSON.stringify(actual.map((r) => r.cidr)) ===
          JSON.stringify(rulesFor(m).map((r) => (r.cidr.includes('/') ? r.cidr : `${r.cidr}/32`))),
      );
      expect(marker, JSON.stringify(actual)).toBeDefined();
      expect(key.ipDefaultAction).toBe(marker! % 2 ? 'DENY' : 'ALLOW');
      expect(actual.map((r) => r.action)).toEqual(['DENY', 'ALLOW', 'ALLOW']);
    }
  }
});
