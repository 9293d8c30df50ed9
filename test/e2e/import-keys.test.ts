// `pnpm run import-keys` as an operator runs it: against the built server on PostgreSQL, signing
// as the merchant with the server's own secret, from a CSV and a JSONL file; a bad line named,
// an import repeated importing nothing twice.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateApplicationDocument } from '@keygate/sdk/documents';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signToken } from '../support/auth.ts';
import { createPostgresDatabase } from '../support/database.ts';
import { graphql, type KeygateProcess, repoRoot, runShell, startKeygate, tempDirs } from '../support/process.ts';
import { ok } from '../support/results.ts';

const SECRET = 'import-keys-e2e-secret-0123456789abcdef0123';
const dirs = tempDirs();
let keygate: KeygateProcess;
let env: Record<string, string>;
const work = dirs.make();

beforeAll(async () => {
  env = {
    DATABASE_URL: await createPostgresDatabase(),
    KEYGATE_JWT_SECRET: SECRET,
    KEYGATE_DATA_DIR: dirs.make(),
    KEYGATE_MAX_KEYS_PER_APPLICATION: '5000',
  };
  keygate = await startKeygate(env, [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')], repoRoot);
  const token = await signToken(new TextEncoder().encode(SECRET), { merchant_id: 'legacy-co' }, { subject: 'ops' });
  ok(
    (await graphql(keygate.url, token, CreateApplicationDocument, { input: { name: 'Public API, v1' } })).body.data
      .createApplication,
  );
}, 120_000);
afterAll(async () => {
  await keygate?.stop();
  dirs.removeAll();
});

const issued = () => `sk_live_${randomBytes(24).toString('base64url')}`;
const sha256 = (secret: string) => createHash('sha256').update(secret).digest('hex');
const run = (file: string, extra = '') =>
  runShell(
    `pnpm --silent run import-keys ${file} --merchant legacy-co --application "public api, v1" --url ${keygate.url} ${extra}`,
    env,
  );
const status = async (secret: string) =>
  (await fetch(`${keygate.url}/v1/auth`, { headers: { 'x-api-key': secret } })).status;

it('imports a CSV (quoted fields, metadata) and a JSONL file; each secret verifies; again, nothing twice', async () => {
  const secrets = Array.from({ length: 1500 }, issued);
  const csv = join(work, 'keys.csv');
  writeFileSync(
    csv,
    [
      'hash,prefix,name,access,scopes,external_id,metadata',
      ...secrets.map(
        (secret, i) =>
          `${sha256(secret)},${secret.slice(0, 12)},"Customer ${i}, ""legacy""",FULL_ACCESS,orders:read orders:write,cus_${i},"{""plan"":""pro""}"`,
      ),
    ].join('\n'),
  );
  const first = run(csv, '--register-prefix sk_live_');
  expect(first.stderr).toContain('1,500 of 1,500');
  expect([first.status, first.stdout]).toEqual([
    0,
    expect.stringMatching(/^imported 1,500 keys, skipped 0 already there, in [\d.]+ s\n$/),
  ]);
  for (const secret of secrets.slice(0, 50)) expect(await status(secret)).toBe(200);
  const again = run(csv);
  expect([again.status, again.stdout]).toEqual([
    0,
    expect.stringMatching(/^imported 0 keys, skipped 1,500 already there/),
  ]);

  const more = Array.from({ length: 3 }, issued);
  const jsonl = join(work, 'keys.jsonl');
  writeFileSync(
    jsonl,
    more
      .map((secret, i) => JSON.stringify({ hash: sha256(secret), prefix: secret.slice(0, 12), name: `JSON ${i}` }))
      .join('\n'),
  );
  const fromJson = run(jsonl);
  expect([fromJson.status, fromJson.stdout]).toEqual([0, expect.stringMatching(/^imported 3 keys/)]);
  for (const secret of more) expect(await status(secret)).toBe(200);
}, 120_000);

it('names the bad line and imports none of its batch; a missing file or application is said plainly', async () => {
  const good = issued();
  const csv = join(work, 'bad.csv');
  writeFileSync(
    csv,
    ['hash,prefix,name', `${sha256(good)},${good.slice(0, 12)},Fine`, `nothex,sk_live_abcd,Broken`].join('\n'),
  );
  const bad = run(csv);
  expect(bad.status).toBe(1);
  expect(bad.stderr).toContain('line 3, hash: must be a SHA-256 as 64 hex digits');
  expect(await status(good)).toBe(401);
  const missing = run(join(work, 'nope.csv'));
  expect([missing.status, missing.stderr.trim()]).toEqual([
    2,
    `keygate import-keys: ${join(work, 'nope.csv')}: no such file`,
  ]);
  const app = runShell(
    `pnpm --silent run import-keys ${csv} --merchant legacy-co --application "Nothing like it" --url ${keygate.url}`,
    env,
  );
  expect([app.status, app.stderr.trim()]).toEqual([
    2,
    'keygate import-keys: --application Nothing like it: the merchant has no application with this id or name',
  ]);
  const usage = runShell('pnpm --silent run import-keys', env);
  expect(usage.status).toBe(2);
  expect(usage.stderr).toContain('usage: pnpm run import-keys <file.csv|file.jsonl>');
});
