// A key's status has two forms: @keygate/core's keyStatus (the API, the verifier) and the SQL
// condition the keys lists filter by (@keygate/services' keyStatusSql). Every combination of
// what decides it, at the boundaries too, lands in the same status in both.
import { KEY_STATUSES, keyStatus } from '@keygate/core';
import { keyStatusSql } from '@keygate/services/application-keys';
import { Prisma } from '@keygate/services/prisma';
import { expect, test } from '../support/fixtures.ts';
import { createApplication, createKey } from '../support/operations.ts';

test('keyStatus and its SQL agree on every combination of revoked, enabled and expiry', async ({ h }) => {
  const acme = await h.as('acme');
  const app = await createApplication(acme, 'Statuses');
  const now = new Date(Date.parse('2026-06-01T12:00:00.000Z'));
  const expiries = [null, new Date(now.getTime() - 1), now, new Date(now.getTime() + 1)];
  const rows: { id: string; revokedAt: Date | null; enabled: boolean; expiresAt: Date | null }[] = [];
  for (const revokedAt of [null, new Date(now.getTime() - 60_000)]) {
    for (const enabled of [true, false]) {
      for (const expiresAt of expiries) {
        const { key } = await createKey(acme, app.id, { name: `k${rows.length}` });
        const id = (await h.db.prisma.apiKey.findFirstOrThrow({ where: { prefix: key.prefix } })).id;
        await h.db.prisma.apiKey.update({ where: { id }, data: { revokedAt, enabled, expiresAt } });
        rows.push({ id, revokedAt, enabled, expiresAt });
      }
    }
  }
  expect(rows).toHaveLength(16);
  for (const status of KEY_STATUSES) {
    const matched = await h.db.prisma.$queryRaw<{ id: string }[]>(
      Prisma.sql`SELECT id::text AS id FROM api_keys WHERE merchant_id = 'acme' AND ${keyStatusSql(status, now)}`,
    );
    const expected = rows.filter((row) => keyStatus(row, now) === status).map((row) => row.id);
    expect([status, matched.map((m) => m.id).sort()]).toEqual([status, expected.sort()]);
  }
});
