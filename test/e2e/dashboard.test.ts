// The merchant dashboard in a real browser (Debian's Chromium), against the built server as
// `pnpm start` runs it: embedded database, development mode, the dashboard at /.
// The seeds' flows end to end, accessibility on every screen, keyboard-only key creation,
// tenant isolation, the ways of signing in, and what the user is told when things fail.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CreateApplicationDocument, CreateKeyDocument, SetApplicationEnabledDocument } from '@keygate/sdk/documents';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../support/auth.ts';
import {
  expectAccessible,
  launchChromium,
  newContext,
  overflows,
  screenshot,
  watchProblems,
} from '../support/browser.ts';
import { docSnippet, importSnippet } from '../support/doc-snippet.ts';
import { graphql, type KeygateProcess, repoRoot, startKeygate, tempDirs } from '../support/process.ts';
import { ok } from '../support/results.ts';

const dirs = tempDirs();
let keygate: KeygateProcess;
let browser: Browser;
let embedder: Server;
let embedderOrigin: string;
/** What the platform's backend hands the embedded dashboard. */
let embedToken = '';
let devSecret: Uint8Array;
let receiver: Server;
const received: { type: string }[] = [];

/** A token for a merchant, as the platform embedding the dashboard would issue it. */
const tokenFor = (merchantId: string, expiresIn = '1h') =>
  signToken(devSecret, { merchant_id: merchantId }, { subject: `user@${merchantId}`, expiresIn });

beforeAll(async () => {
  // The platform's own page: the embedding snippet of docs/dashboard.md as written, pointed at this Keygate,
  // and the platform's backend route it fetches tokens from.
  const page = readFileSync(join(repoRoot, 'docs', 'dashboard.md'), 'utf8');
  const snippet = /2\. \*\*Embedded\*\*[\s\S]*?```html\n([\s\S]*?)```/.exec(page)![1]!.replace(/^ {3}/gm, '');
  embedder = createServer((req, res) => {
    if (req.url === '/api/keygate-token') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return void res.end(embedToken);
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      `<!doctype html><title>Platform</title>\n${snippet.replaceAll('https://keygate.example.com', keygate.url)}`,
    );
  });
  await new Promise<void>((resolve) => embedder.listen(0, '127.0.0.1', resolve));
  // A merchant's webhook endpoint.
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  embedderOrigin = `http://127.0.0.1:${(embedder.address() as AddressInfo).port}`;
  const dataDir = dirs.make();
  keygate = await startKeygate(
    {
      KEYGATE_DATA_DIR: dataDir,
      KEYGATE_USAGE_FLUSH_MS: '200',
      KEYGATE_MAX_KEYS_PER_APPLICATION: '3',
      KEYGATE_DASHBOARD_EMBED_ORIGINS: embedderOrigin,
      KEYGATE_WEBHOOKS_ALLOW_INSECURE: '1',
      KEYGATE_WEBHOOKS_ALLOW_PRIVATE: '1',
      KEYGATE_WEBHOOK_POLL_MS: '100',
    },
    [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')],
    repoRoot,
  );
  devSecret = new TextEncoder().encode(readFileSync(join(dataDir, 'dev-jwt-secret'), 'utf8').trim());
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  embedder?.close();
  receiver?.close();
  if (keygate) expect(await keygate.stop()).toBe(0);
  dirs.removeAll();
});

async function open(path: string, token: string | null, viewport?: { width: number; height: number }) {
  const context = await newContext(browser, keygate.url, viewport);
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const problems = watchProblems(page, [/401|Failed to load resource/]);
  await page.goto(token ? `${path}#token=${token}` : path);
  return { page, context, problems };
}

/** A React Aria select: its button is named by its value, then its label. */
const select = (page: Page, label: string) => page.getByRole('button', { name: new RegExp(`${label}$`) });

async function pick(page: Page, label: string, option: string) {
  await select(page, label).click();
  await page.getByRole('option', { name: option, exact: true }).click();
}

const verify = (secret: string) => fetch(`${keygate.url}/v1/auth`, { headers: { 'x-api-key': secret } });

describe('the dashboard, served by the built server', { timeout: 120_000 }, () => {
  it('is at /, every page address answers with the app, assets are cached for good; GraphiQL stays at /graphql', async () => {
    const home = await fetch(`${keygate.url}/`);
    expect(home.status).toBe(200);
    const html = await home.text();
    expect(html).toContain('<div id="root">');
    expect(home.headers.get('content-security-policy')).toContain(`frame-ancestors 'self' ${embedderOrigin}`);
    expect(home.headers.get('cache-control')).toBe('no-cache');
    const deep = await fetch(`${keygate.url}/applications/anything`);
    expect([deep.status, await deep.text()]).toEqual([200, html]);
    // Every route of the app is a page address the server answers (the two lists live apart).
    const routes = [
      ...readFileSync(join(repoRoot, 'web', 'src', 'app.tsx'), 'utf8').matchAll(/<Route path="([^"]+)"/g),
    ];
    expect(routes.length).toBeGreaterThanOrEqual(7);
    for (const [, path] of routes) {
      const answer = await fetch(`${keygate.url}${path!.replace(/:\w+/g, 'some-id')}`);
      expect([path, answer.status, await answer.text()]).toEqual([path, 200, html]);
    }
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const asset = await fetch(`${keygate.url}${script}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(asset.headers.get('content-type')).toContain('javascript');
    expect((await fetch(`${keygate.url}/assets/missing.js`)).status).toBe(404);
    const graphiql = await fetch(`${keygate.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(await graphiql.text()).toContain('createApplication'); // GraphiQL's walkthrough, not the dashboard
    const config = await (await fetch(`${keygate.url}/dashboard/config.json`)).json();
    expect(config).toEqual({
      devSignIn: true,
      embedOrigins: [embedderOrigin],
      integration: { apiUrl: 'https://api.example.com', keyHeader: 'Authorization' },
    });
  });

  it('walks the seeds\' flow: app, key "Main store", copy, verify, last used, edit, IP rules, revoke', async () => {
    const { page, context, problems } = await open('/applications', await tokenFor('acme'));
    await expect.poll(() => page.url()).toBe(`${keygate.url}/applications`); // the token left the address
    expect(await page.evaluate(() => [localStorage.length, sessionStorage.length])).toEqual([0, 1]);
    await page.getByRole('heading', { name: 'Applications' }).waitFor();
    await screenshot(page, '01-applications-empty');

    await page.getByRole('button', { name: 'Create application' }).first().click();
    const appDialog = page.getByRole('dialog', { name: 'Create an application' });
    await appDialog.getByRole('textbox', { name: 'Name', exact: true }).fill('Web store');
    await appDialog.getByRole('button', { name: 'Create application' }).click();
    await page.getByRole('heading', { name: 'Web store', level: 1 }).waitFor();

    await page.getByRole('button', { name: 'Create key' }).click();
    const keyDialog = page.getByRole('dialog', { name: 'Create an API key' });
    await keyDialog.getByRole('textbox', { name: 'Name', exact: true }).fill('Main store');
    await keyDialog.getByLabel('Website URL (optional)').fill('https://store.example.com');
    await pick(page, 'Access', 'Full access');
    // What each access means, said where it is chosen; no access is offered as fit for a browser.
    const meaning = keyDialog.getByText('Read only: GET, HEAD and OPTIONS requests', { exact: false });
    expect(await meaning.isVisible()).toBe(true);
    expect(await meaning.textContent()).toContain('never in a browser or an app');
    const accessDescribedBy = (await select(page, 'Access').getAttribute('aria-describedby')) ?? '';
    expect(accessDescribedBy.split(' ')).toContain(await meaning.getAttribute('id'));
    expect(await keyDialog.textContent()).not.toContain('safe in a browser');
    await keyDialog.getByLabel('Scopes (optional)').fill('payments:write orders:read');
    await screenshot(page, '02-create-key');
    await keyDialog.getByRole('button', { name: 'Create key' }).click();

    const secretDialog = page.getByRole('dialog', { name: 'Your new key: Main store' });
    const shown = (await secretDialog.getByTestId('secret').textContent())!.trim();
    expect(shown).toMatch(/^kg_live_[0-9A-Za-z]{20,}$/);
    const done = secretDialog.getByRole('button', { name: 'Done' });
    expect(await done.isDisabled()).toBe(true); // not before "I have stored it"
    await page.keyboard.press('Escape'); // nor by accident
    expect(await secretDialog.isVisible()).toBe(true);
    await secretDialog.getByRole('button', { name: 'Copy key' }).click();
    await secretDialog.getByText('Copied to the clipboard.').waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe(shown);
    await screenshot(page, '03-secret-once');
    await secretDialog.getByText('I have stored this key').click();
    await done.click();
    await secretDialog.waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(copied); // gone from the page

    const row = page.getByRole('row', { name: /Main store/ });
    await expect.poll(() => row.getByTestId('last-used').textContent()).toContain('Never used');
    const ok = await verify(copied);
    expect(ok.status).toBe(200);
    // After the flush (200 ms here), the list shows it, relative and exact, on the next load.
    await expect
      .poll(
        async () => {
          await page.reload();
          return row.getByTestId('last-used').textContent({ timeout: 5000 });
        },
        { timeout: 15_000 },
      )
      .toMatch(/just now|sec\. ago/);
    expect(await row.getByTestId('last-used').locator('time').getAttribute('datetime')).toMatch(/^\d{4}-/);
    await screenshot(page, '04-keys-last-used');

    await row.getByRole('button', { name: 'Actions for Main store' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit Main store' });
    await edit.getByRole('textbox', { name: 'Name', exact: true }).fill('Main store EU');
    await edit.getByLabel('Website URL (optional)').fill('ftp://nope');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    // The server's ValidationError lands on the field it names.
    const url = edit.getByLabel('Website URL (optional)');
    await expect.poll(() => url.getAttribute('aria-invalid')).toBe('true');
    expect(await edit.locator('.field-error').textContent()).toMatch(/http/);
    await url.fill('https://eu.store.example.com');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit.waitFor({ state: 'detached' });
    const renamed = page.getByRole('row', { name: /Main store EU/ });
    await renamed.getByText('https://eu.store.example.com').waitFor();

    await renamed.getByRole('button', { name: 'Actions for Main store EU' }).click();
    await page.getByRole('menuitem', { name: 'IP rules' }).click();
    const rules = page.getByRole('dialog', { name: 'IP rules for Main store EU' });
    await rules.getByRole('button', { name: 'Add rule' }).click();
    await rules.getByLabel('Rule 1: address or range').fill('10.0.0.0/8');
    await rules.getByRole('button', { name: 'Add rule' }).click();
    await rules.getByLabel('Rule 2: address or range').fill('300.1.1.1');
    await rules.getByRole('button', { name: 'Add rule' }).click();
    await rules.getByLabel('Rule 3: address or range').fill('127.0.0.1');
    await rules.getByRole('button', { name: 'Move rule 3 up' }).click(); // now rule 2; the bad one is rule 3
    expect(await rules.getByLabel('Rule 2: address or range').inputValue()).toBe('127.0.0.1');
    await rules.getByRole('button', { name: 'Save rules' }).click();
    const bad = rules.getByLabel('Rule 3: address or range');
    await expect.poll(() => bad.getAttribute('aria-invalid')).toBe('true');
    expect(await rules.getByLabel('Rule 1: address or range').getAttribute('aria-invalid')).not.toBe('true');
    const describedBy = (await bad.getAttribute('aria-describedby'))!;
    expect(await page.locator(`[id="${describedBy.split(' ').at(-1)}"]`).textContent()).toContain('300.1.1.1');
    await screenshot(page, '05-ip-rules-error');
    await rules.getByRole('button', { name: 'Remove rule 3' }).click();
    await pick(page, 'Addresses no rule matches', 'Deny');
    await rules.getByRole('button', { name: 'Save rules' }).click();
    await rules.waitFor({ state: 'detached' });
    expect((await verify(copied)).status).toBe(200); // 127.0.0.1 is allowed by rule 2

    await renamed.getByRole('button', { name: 'Actions for Main store EU' }).click();
    await page.getByRole('menuitem', { name: 'Revoke' }).click();
    const confirm = page.getByRole('alertdialog', { name: 'Revoke Main store EU?' });
    await screenshot(page, '06-revoke-confirm');
    await confirm.getByRole('button', { name: 'Revoke key' }).click();
    await confirm.waitFor({ state: 'detached' });
    const refused = await verify(copied); // the very next request
    expect([refused.status, refused.headers.get('x-keygate-code')]).toEqual([401, 'REVOKED']);
    await renamed.getByRole('cell').getByText('Revoked').waitFor();
    // The secret was never kept by the browser: only the session's token is stored.
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }));
    expect(stored).not.toContain(copied.slice(8));

    // The audit trail, filtered by action, and the key's own trail from its page.
    await page.getByRole('link', { name: 'Audit trail', exact: true }).click();
    await page.locator('tbody').getByText('Key revoked').waitFor();
    await pick(page, 'Action', 'IP rules set');
    await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
    expect(await page.locator('tbody').textContent()).toContain('10.0.0.0/8');
    await page
      .getByRole('link', { name: /^Key Main store EU/ })
      .first()
      .click();
    await page.getByRole('heading', { name: 'Main store EU', level: 1 }).waitFor();
    await page.getByRole('link', { name: /Every change to this key/ }).click();
    await expect.poll(() => page.locator('tbody tr').count()).toBe(4); // created, edited, IP rules, revoked
    await screenshot(page, '09-audit-of-a-key');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('rolls a key with a grace period, disables and enables it, sets metadata and credits; webhooks report it', async () => {
    const token = await tokenFor('lifecycle');
    const app = ok(
      (await graphql(keygate.url, token, CreateApplicationDocument, { input: { name: 'Lifecycle' } })).body.data
        .createApplication,
    ).application.id;
    const created = (
      await graphql(keygate.url, token, CreateKeyDocument, { input: { applicationId: app, name: 'Rolling key' } })
    ).body.data.createKey;
    const { page, context, problems } = await open('/webhooks', token);

    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const add = page.getByRole('dialog', { name: 'Add a webhook endpoint' });
    await add.getByLabel('URL').fill(`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`);
    await add.getByText('key.rolled').click();
    await add.getByText('key.disabled').click();
    await add.getByRole('button', { name: 'Add endpoint' }).click();
    const signing = page.getByRole('dialog', { name: "The endpoint's signing secret" });
    expect(await signing.getByTestId('secret').textContent()).toMatch(/^whsec_/);
    await signing.getByText('I have stored this key').click();
    await signing.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('heading', { name: /\/events$/ }).waitFor();

    await page.goto(`/keys/${ok(created).key.id}`);
    await page.getByRole('heading', { name: 'Rolling key', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Actions for Rolling key' }).click();
    await page.getByRole('menuitem', { name: 'Roll' }).click();
    await pick(page, 'Grace period', '1 hour');
    await page.getByRole('button', { name: 'Roll key' }).click();
    const rolled = page.getByRole('dialog', { name: 'The rolled key for Rolling key' });
    const next = (await rolled.getByTestId('secret').textContent())!.trim();
    // It says until when the old secret still works: the end of the hour's grace.
    expect(await rolled.getByTestId('old-until').textContent()).toMatch(
      /keeps working until .*\d{4}.*deploy the new one/,
    );
    expect(next).not.toBe(ok(created).secret);
    expect([(await verify(ok(created).secret)).status, (await verify(next)).status]).toEqual([200, 200]); // both, in the grace period
    await rolled.getByText('I have stored this key').click();
    await rolled.getByRole('button', { name: 'Done' }).click();
    await page.getByText('Expires').waitFor();
    await page.getByRole('link', { name: 'its replacement' }).click();
    await page.getByRole('link', { name: 'the previous key' }).waitFor();

    await page.getByRole('button', { name: 'Actions for Rolling key' }).click();
    await page.getByRole('menuitem', { name: 'Disable' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Disable key' }).click();
    await page.getByText('Disabled', { exact: true }).waitFor();
    const disabled = await verify(next);
    expect([disabled.status, disabled.headers.get('x-keygate-code')]).toEqual([401, 'KEY_DISABLED']);
    await page.getByRole('button', { name: 'Actions for Rolling key' }).click();
    await page.getByRole('menuitem', { name: 'Enable' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Enable key' }).click();
    await page.getByText('Active', { exact: true }).waitFor();
    expect((await verify(next)).status).toBe(200);

    // Metadata, credits and rate limits are one form with one Save.
    const metadata = page.getByLabel('Metadata (JSON)');
    const save = page.getByRole('button', { name: 'Save settings' });
    await metadata.fill('{"plan": ');
    await save.click();
    await expect.poll(() => metadata.getAttribute('aria-invalid')).toBe('true');
    await metadata.fill('{"plan": "gold"}');
    await page.getByLabel('Credits left').fill('3');
    await save.click();
    await page.getByText('Saved.').first().waitFor();
    await page.getByText('3 left').waitFor();
    const withMetadata = await verify(next);
    expect(JSON.parse(Buffer.from(withMetadata.headers.get('x-keygate-metadata')!, 'base64url').toString())).toEqual({
      plan: 'gold',
    });
    // Only what changed is sent: saving the metadata again leaves the credits spent meanwhile spent.
    await metadata.fill('{"plan": "platinum"}');
    await save.click();
    await page.getByText('Saved.').first().waitFor();
    expect((await verify(next)).status).toBe(200);
    expect((await verify(next)).status).toBe(200);
    const spent = await verify(next);
    expect([spent.status, spent.headers.get('x-keygate-code')]).toEqual([429, 'USAGE_EXCEEDED']);
    await screenshot(page, '07-key-settings');

    await expect
      .poll(() => received.map((event) => event.type), { timeout: 15_000 })
      .toEqual(expect.arrayContaining(['key.rolled', 'key.disabled']));
    await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
    await page.getByRole('button', { name: /^Actions for http/ }).click();
    await page.getByRole('menuitem', { name: 'Deliveries' }).click();
    const deliveries = page.getByRole('dialog', { name: /^Deliveries to/ });
    await deliveries.getByText('key.rolled').waitFor();
    expect(await deliveries.getByText('succeeded').count()).toBeGreaterThan(0);
    await screenshot(page, '08-webhook-deliveries');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('shows typed errors where they belong: a name taken, the key limit reached', async () => {
    const token = await tokenFor('limits');
    const app = ok(
      (await graphql(keygate.url, token, CreateApplicationDocument, { input: { name: 'Full house' } })).body.data
        .createApplication,
    ).application.id;
    for (const name of ['one', 'two', 'three'])
      await graphql(keygate.url, token, CreateKeyDocument, { input: { applicationId: app, name } });
    const { page, context, problems } = await open('/applications', token);
    await page.getByRole('button', { name: 'Create application' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'Create an application' });
    const name = dialog.getByRole('textbox', { name: 'Name', exact: true });
    await name.fill('FULL HOUSE'); // names are unique ignoring case
    await dialog.getByRole('button', { name: 'Create application' }).click();
    await expect.poll(() => name.getAttribute('aria-invalid')).toBe('true');
    await dialog.getByText(/already/).waitFor();
    await page.keyboard.press('Escape');

    await page.getByRole('link', { name: 'Full house' }).click();
    await page.getByText('3 of at most 3 keys in use').waitFor();
    await page.getByRole('button', { name: 'Create key' }).click();
    const create = page.getByRole('dialog', { name: 'Create an API key' });
    await create.getByRole('textbox', { name: 'Name', exact: true }).fill('four');
    await create.getByRole('button', { name: 'Create key' }).click();
    await create.getByRole('alert').filter({ hasText: 'already has 3 keys' }).waitFor();
    await screenshot(page, 'key-limit');
    await page.keyboard.press('Escape');
    await pick(page, 'Status', 'Revoked');
    await page.getByText('No key has this status.').waitFor();
    await pick(page, 'Status', 'Active');
    await expect.poll(() => page.locator('tbody tr').count()).toBe(3);
    await page.getByRole('searchbox', { name: 'Search by name or prefix' }).fill('TW');
    await expect.poll(() => page.locator('tbody th a').allTextContents()).toEqual(['two']);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('previews a key policy, sets it, and the key form says it and names the field it refuses', async () => {
    const token = await tokenFor('policy-co');
    const app = ok(
      (await graphql(keygate.url, token, CreateApplicationDocument, { input: { name: 'Payments API' } })).body.data
        .createApplication,
    ).application.id;
    await graphql(keygate.url, token, CreateKeyDocument, { input: { applicationId: app, name: 'Made before' } });
    const { page, context, problems } = await open('/policy', token);
    await page.getByText('No policy: any key may be made').waitFor();
    await page.getByLabel('Live keys expire within (days)').fill('90');
    await page.getByRole('button', { name: 'Preview affected keys' }).click();
    const preview = page.getByRole('region', { name: '1 existing key would be out of this policy' });
    await preview.getByRole('link', { name: 'Made before' }).waitFor();
    // The preview changed nothing: still no policy.
    expect(await page.getByText('No policy: any key may be made').count()).toBe(1);
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('Policy saved.').waitFor();
    await page.getByText('Your policy', { exact: false }).first().waitFor();

    await page.goto(`/applications/${app}`);
    await page.getByRole('button', { name: 'Create key' }).click();
    const create = page.getByRole('dialog', { name: 'Create an API key' });
    await create.getByText('Your key policy: Live keys expire within 90 days of creation.').waitFor();
    await create.getByRole('textbox', { name: 'Name', exact: true }).fill('No expiry');
    await create.getByRole('button', { name: 'Create key' }).click();
    await create.getByRole('alert').filter({ hasText: 'Your key policy refuses this' }).waitFor();
    expect(await create.getByRole('alert').textContent()).toContain('LIVE keys must expire within 90 days');
    await screenshot(page, 'policy-refused', { fullPage: false });
    expect(problems).toEqual([]);
    await context.close();
  });

  it('defines a role, gives it to a key, and the key follows the role’s edits at the gateway', async () => {
    const token = await tokenFor('roles-merchant');
    const app = ok(
      (await graphql(keygate.url, token, CreateApplicationDocument, { input: { name: 'Help desk' } })).body.data
        .createApplication,
    ).application.id;
    const created = ok(
      (await graphql(keygate.url, token, CreateKeyDocument, { input: { applicationId: app, name: 'Desk agent' } })).body
        .data.createKey,
    );
    const scoped = (scopes: string) =>
      fetch(`${keygate.url}/v1/auth?scopes=${scopes}`, { headers: { 'x-api-key': created.secret } });
    const { page, context, problems } = await open('/roles', token);
    await page.getByText('No roles yet.').waitFor();
    await page.getByRole('button', { name: 'Create your first role' }).click();
    const form = page.getByRole('dialog', { name: 'Create a role' });
    await form.getByRole('textbox', { name: 'Name', exact: true }).fill('Support staff');
    const scopes = form.getByRole('textbox', { name: 'Scopes' });
    await scopes.fill('orders.read refunds/write');
    await form.getByRole('button', { name: 'Create role' }).click();
    // A bad scope is named on the field, and the form keeps what was typed.
    await expect.poll(() => scopes.getAttribute('aria-invalid')).toBe('true');
    await scopes.fill('orders.read, refunds.write');
    await form.getByRole('button', { name: 'Create role' }).click();
    await form.waitFor({ state: 'detached' });
    const row = page.getByRole('row', { name: /^Support staff/ });
    expect(await row.textContent()).toContain('refunds.write');

    // The key's edit form offers the role; saved, the key may do what the role grants.
    await page.goto(`/keys/${created.key.id}`);
    await page.getByRole('heading', { name: 'Desk agent', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Actions for Desk agent' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    const edit = page.getByRole('dialog', { name: /^Edit/ });
    const role = edit.getByRole('checkbox', { name: /Support staff/ });
    await edit.locator('label.checkbox', { hasText: 'Support staff' }).click();
    expect(await role.isChecked()).toBe(true);
    await edit.getByRole('button', { name: /^Save/ }).click();
    await edit.waitFor({ state: 'detached' });
    await page.getByText('Read only: orders.read, refunds.write').waitFor();
    expect((await scoped('refunds.write')).status).toBe(200);
    expect((await scoped('payouts.read')).status).toBe(403);

    // Deleting a role keys have is refused, with the reason.
    await page.goto('/roles');
    await page.getByRole('button', { name: 'Actions for Support staff' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    const confirm = page.getByRole('alertdialog', { name: 'Delete the role Support staff?' });
    await confirm.getByRole('button', { name: 'Delete role' }).click();
    await confirm.getByText(/1 key that is not revoked has this role/).waitFor();
    await confirm.getByRole('button', { name: 'Cancel' }).click();

    // The role's edit reaches the key at once: no more refunds, payouts instead.
    await page.getByRole('button', { name: 'Actions for Support staff' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    const change = page.getByRole('dialog', { name: 'Edit Support staff' });
    await change.getByRole('textbox', { name: 'Scopes' }).fill('orders.read payouts.read');
    await change.getByRole('button', { name: 'Save role' }).click();
    await change.waitFor({ state: 'detached' });
    expect((await scoped('refunds.write')).status).toBe(403);
    expect((await scoped('payouts.read')).status).toBe(200);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('creates an identity, gives it a key, and its shared credits bound the key at the gateway', async () => {
    const token = await tokenFor('identity-merchant');
    const app = ok(
      (await graphql(keygate.url, token, CreateApplicationDocument, { input: { name: 'Storefront' } })).body.data
        .createApplication,
    ).application.id;
    const created = ok(
      (await graphql(keygate.url, token, CreateKeyDocument, { input: { applicationId: app, name: 'Checkout' } })).body
        .data.createKey,
    );
    const { page, context, problems } = await open('/identities', token);
    await page.getByText('No identities yet.').waitFor();
    await page.getByRole('button', { name: 'Create your first identity' }).click();
    const form = page.getByRole('dialog', { name: 'Create an identity' });
    await form.getByRole('textbox', { name: 'External id' }).fill('cus_42');
    await form.getByRole('textbox', { name: 'Name (optional)' }).fill('Fabrikam');
    const metadata = form.getByRole('textbox', { name: 'Metadata (JSON, optional)' });
    await metadata.fill('{ plan: pro }');
    await form.getByRole('button', { name: 'Create identity' }).click();
    await expect.poll(() => metadata.getAttribute('aria-invalid')).toBe('true');
    await metadata.fill('{ "plan": "pro" }');
    await form.getByRole('button', { name: 'Create identity' }).click();
    await page.getByRole('heading', { name: 'Fabrikam', level: 1 }).waitFor();

    // Two credits shared by all its keys.
    const shared = page.getByRole('region', { name: 'Limits its keys share' });
    await shared.getByLabel('Credits left').fill('2');
    await shared.getByRole('button', { name: 'Save shared limits' }).click();
    await shared.getByText('Saved.').waitFor();

    // The key joins it on its edit form.
    await page.goto(`/keys/${created.key.id}`);
    await page.getByRole('button', { name: 'Actions for Checkout' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    const edit = page.getByRole('dialog', { name: /^Edit/ });
    await pick(page, 'Belongs to', 'Fabrikam (cus_42)');
    await edit.getByRole('button', { name: /^Save/ }).click();
    await edit.waitFor({ state: 'detached' });
    await page.locator('.facts').getByRole('link', { name: 'Fabrikam' }).waitFor();

    const gateway = () => fetch(`${keygate.url}/v1/auth`, { headers: { 'x-api-key': created.secret } });
    const first = await gateway();
    expect([first.status, first.headers.get('x-keygate-identity-external-id')]).toEqual([200, 'cus_42']);
    expect((await gateway()).status).toBe(200);
    const third = await gateway();
    expect([third.status, third.headers.get('x-keygate-code')]).toEqual([429, 'USAGE_EXCEEDED']);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('pages through applications by cursor, searches them and filters by enabled', async () => {
    const token = await tokenFor('many');
    const ids: string[] = [];
    for (let i = 1; i <= 22; i++) {
      const created = await graphql(keygate.url, token, CreateApplicationDocument, { input: { name: `Store ${i}` } });
      ids.push(ok(created.body.data.createApplication).application.id);
    }
    await graphql(keygate.url, token, SetApplicationEnabledDocument, { input: { id: ids[0]!, enabled: false } });
    const { page, context, problems } = await open('/applications', token);
    await page.getByText('22 applications').waitFor();
    const names = () => page.locator('tbody th a').allTextContents();
    await expect.poll(names).toHaveLength(20);
    expect((await names())[0]).toBe('Store 22'); // newest first
    await page.getByRole('button', { name: 'Next page' }).click();
    await expect.poll(names).toEqual(['Store 2', 'Store 1']);
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    // The page is in the address: a reload shows the same one.
    expect(page.url()).toContain('after=');
    await page.reload();
    await expect.poll(names).toEqual(['Store 2', 'Store 1']);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await expect.poll(async () => (await names())[0]).toBe('Store 22');
    await page.getByRole('searchbox', { name: 'Search by name' }).fill('store 1');
    await expect.poll(names).toHaveLength(11); // 1 and 10–19
    await page.getByRole('searchbox', { name: 'Search by name' }).fill('');
    const param = (name: string) => new URL(page.url()).searchParams.get(name);
    await expect.poll(() => param('q')).toBeNull();
    await pick(page, 'Show', 'Disabled');
    await expect.poll(names).toEqual(['Store 1']);
    // So are the filters: a reload (or a shared link) keeps them.
    await page.getByRole('searchbox', { name: 'Search by name' }).fill('store');
    await expect.poll(() => [param('q'), param('show')]).toEqual(['store', 'disabled']);
    await page.reload();
    await expect.poll(names).toEqual(['Store 1']);
    expect(await page.getByRole('searchbox', { name: 'Search by name' }).inputValue()).toBe('store');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('creates a key with the keyboard alone', async () => {
    const { page, context } = await open('/applications', await tokenFor('keyboard'));
    await page.getByRole('heading', { name: 'Applications' }).waitFor();
    const focused = () => page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
    const tabTo = async (text: string) => {
      for (let i = 0; i < 40 && (await focused()) !== text; i++) await page.keyboard.press('Tab');
      expect(await focused()).toBe(text);
    };
    await tabTo('Create application');
    await page.keyboard.press('Enter');
    await page.keyboard.type('Keyboard app'); // focus is in the dialog's first field
    await page.keyboard.press('Enter'); // submits
    await page.getByRole('heading', { name: 'Keyboard app', level: 1 }).waitFor();
    await tabTo('Create key');
    await page.keyboard.press('Enter');
    await page.keyboard.type('Typed key');
    await page.keyboard.press('Tab'); // website
    await page.keyboard.press('Tab'); // access
    await page.keyboard.press('ArrowDown'); // opens the list
    await page.getByRole('listbox').waitFor();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    expect(await select(page, 'Access').textContent()).toContain('Full access');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Enter'); // submits from the website field
    const secret = page.getByRole('dialog', { name: 'Your new key: Typed key' });
    await secret.waitFor();
    await tabTo('Copy key');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Space'); // "I have stored this key"
    await tabTo('Done');
    await page.keyboard.press('Enter');
    await secret.waitFor({ state: 'detached' });
    await page
      .getByRole('row', { name: /Typed key/ })
      .getByText('Full access')
      .waitFor();
    await context.close();
  });

  it('passes axe-core on every screen, and works 360 px wide', async () => {
    const token = await tokenFor('axe');
    for (const viewport of [
      { width: 1280, height: 860 },
      { width: 360, height: 740 },
    ]) {
      const narrow = viewport.width === 360 ? '-360' : '';
      const { page, context, problems } = await open('/applications', token, viewport);
      // Nothing wider than the viewport or cut off at its edge, dialogs and menus included.
      const fits = async (screen: string) => expect([screen, ...(await overflows(page))]).toEqual([screen]);
      const check = async (screen: string) => {
        await expectAccessible(page, screen, { strict: true });
        await fits(screen);
        await screenshot(page, `axe-${screen}${narrow}`);
      };
      await page.getByRole('heading', { name: 'Applications' }).waitFor();
      if (!narrow) {
        await page.getByRole('button', { name: 'Create application' }).first().click();
        await page.getByRole('textbox', { name: 'Name', exact: true }).fill('Axe store');
        await page.getByRole('button', { name: 'Create application' }).last().click();
        await page.getByRole('heading', { name: 'Axe store', level: 1 }).waitFor();
        await page.getByRole('button', { name: 'Create key' }).click();
        await page.getByRole('textbox', { name: 'Name', exact: true }).fill('Axe key');
        await page.getByRole('dialog').getByRole('button', { name: 'Create key' }).click();
        await page.getByText('I have stored this key').click();
        await page.getByRole('button', { name: 'Done' }).click();
        await page.goto('/applications');
      }
      await page.getByRole('link', { name: 'Axe store' }).waitFor();
      await check('applications');
      await page.getByRole('button', { name: 'Create application' }).first().click();
      await check('create-application');
      await page.keyboard.press('Escape');
      await page.getByRole('link', { name: 'Axe store' }).click();
      await page.getByRole('row', { name: /Axe key/ }).waitFor();
      await check('keys');
      await page.getByRole('button', { name: 'Create key' }).click();
      await check('create-key');
      await page.keyboard.press('Escape');
      await page.getByRole('button', { name: 'Actions for Axe key' }).click();
      await page.getByRole('menu').waitFor();
      await check('key-menu');
      await page.getByRole('menuitem', { name: 'IP rules' }).click();
      await page.getByRole('button', { name: 'Add rule' }).click();
      await check('ip-rules');
      await page.keyboard.press('Escape');
      await page.getByRole('button', { name: 'Actions for Axe key' }).click();
      await page.getByRole('menuitem', { name: 'Roll' }).click();
      await check('roll');
      await page.keyboard.press('Escape');
      await page.getByRole('link', { name: 'Axe key' }).click();
      await page.getByRole('heading', { name: 'Usage' }).waitFor();
      await page.locator('.uplot').waitFor();
      await check('key');
      await page.getByRole('link', { name: 'Audit trail', exact: true }).click();
      await page.locator('tbody').getByText('Key created').first().waitFor();
      await check('audit');
      await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
      await page.getByText('No endpoint yet.').waitFor();
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      await check('add-webhook');
      await page.keyboard.press('Escape');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'Sign in to Keygate' }).waitFor();
      await check('sign-in');
      expect(problems).toEqual([]);
      await context.close();
    }
  });

  it("keeps merchants apart: B sees none of A's data, also at A's pasted addresses", async () => {
    const a = await open('/applications', await tokenFor('tenant-a'));
    await a.page.getByRole('button', { name: 'Create application' }).first().click();
    await a.page.getByRole('textbox', { name: 'Name', exact: true }).fill('Secret project');
    await a.page.getByRole('button', { name: 'Create application' }).last().click();
    await a.page.getByRole('heading', { name: 'Secret project', level: 1 }).waitFor();
    const appPath = new URL(a.page.url()).pathname;
    await a.page.getByRole('button', { name: 'Create key' }).click();
    await a.page.getByRole('textbox', { name: 'Name', exact: true }).fill('A key');
    await a.page.getByRole('dialog').getByRole('button', { name: 'Create key' }).click();
    await a.page.getByText('I have stored this key').click();
    await a.page.getByRole('button', { name: 'Done' }).click();
    await a.page.getByRole('link', { name: 'A key' }).click();
    await a.page.getByRole('heading', { name: 'A key', level: 1 }).waitFor();
    const keyPath = new URL(a.page.url()).pathname;
    await a.context.close();

    const b = await open('/applications', await tokenFor('tenant-b'));
    await b.page.getByText('You have no applications yet.').waitFor();
    await b.page.goto(`${appPath}#token=${await tokenFor('tenant-b')}`);
    await b.page.getByRole('heading', { name: 'Application not found' }).waitFor();
    await b.page.goto(keyPath); // signed in from this tab's storage
    await b.page.getByRole('heading', { name: 'Key not found' }).waitFor();
    await b.page.goto('/audit');
    await b.page.getByText('No change yet.', { exact: false }).waitFor();
    await b.page.goto('/'); // the overview counts and lists B's keys only: none
    await b.page.getByRole('region', { name: 'Latest changes' }).getByText('No change yet.').waitFor();
    expect(await b.page.getByRole('region', { name: /^Unused for/ }).textContent()).toContain('Every key was used');
    expect(await b.page.content()).not.toMatch(/Secret project|A key/);
    await screenshot(b.page, 'isolation-not-found');
    expect(b.problems).toEqual([]);
    await b.context.close();
  });

  it('signs in by postMessage from an allowed embedding page only, and as a merchant in development', async () => {
    // The documented snippet: the token handed over at keygate:ready, and a fresh one when it expires.
    embedToken = await tokenFor('embedded', '6s');
    const context = await newContext(browser, keygate.url);
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto(`${embedderOrigin}/`);
    const frame = page.frameLocator('#keygate');
    await frame.getByText('Merchant embedded').waitFor();
    await frame.getByRole('heading', { name: 'Applications' }).waitFor();
    // The fresh token is minted by the docs' HS256 snippet, as the platform's backend runs it.
    const previous = process.env.KEYGATE_JWT_SECRET;
    process.env.KEYGATE_JWT_SECRET = new TextDecoder().decode(devSecret);
    const minting = await importSnippet<{ keygateToken: (merchantId: string, user: string) => Promise<string> }>(
      docSnippet('dashboard.md', '**Minting the token**', 'js'),
    ).finally(() => {
      if (previous === undefined) delete process.env.KEYGATE_JWT_SECRET;
      else process.env.KEYGATE_JWT_SECRET = previous;
    });
    embedToken = await minting.keygateToken('embedded-again', 'dana@embedded-again.example.com');
    await frame.getByText('Merchant embedded-again').waitFor({ timeout: 30_000 });
    // What the merchant does with it is audited as done by the token's subject.
    await graphql(keygate.url, embedToken, CreateApplicationDocument, { input: { name: 'Embedded shop' } });
    const trail = await graphql(keygate.url, embedToken, '{ auditEvents(first: 1) { edges { node { actor } } } }');
    expect(trail.body).toEqual({
      data: { auditEvents: { edges: [{ node: { actor: 'dana@embedded-again.example.com' } }] } },
    });
    // The same page on an origin not in KEYGATE_DASHBOARD_EMBED_ORIGINS: the browser refuses to
    // frame the dashboard at all (frame-ancestors), and the dashboard would ignore its messages.
    const other = await context.newPage();
    const refused: string[] = [];
    other.on('console', (message) => refused.push(message.text()));
    await other.goto(`${embedderOrigin.replace('127.0.0.1', 'localhost')}/`);
    await expect.poll(() => refused.join('\n')).toMatch(/frame-ancestors/);

    // A tab of its own: the embedded dashboard's session lives on in the first one.
    await page.close();
    const devPage = await context.newPage();
    devPage.setDefaultTimeout(20_000);
    await devPage.goto('/');
    await devPage.getByLabel('Merchant id').fill('dev shop');
    await devPage.getByRole('button', { name: 'Sign in as this merchant' }).click();
    await devPage.getByText(/visible ASCII characters/).waitFor(); // the server's message, on the field
    await devPage.getByLabel('Merchant id').fill('dev-shop');
    await devPage.getByRole('button', { name: 'Sign in as this merchant' }).click();
    await devPage.getByText('Merchant dev-shop').waitFor();
    await context.close();

    // Minting is for the dashboard's own page: another site's request is refused.
    const foreign = await fetch(`${keygate.url}/dashboard/sign-in-as`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
      body: JSON.stringify({ merchantId: 'acme' }),
    });
    expect(foreign.status).toBe(403);
  });

  it('an expired or refused token leads back to sign-in; offline and server errors say so', async () => {
    const { page, context } = await open('/applications', await tokenFor('expiring', '8s'));
    await page.getByRole('heading', { name: 'Applications' }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'Your session has expired' }).waitFor({ timeout: 30_000 });
    await page.getByRole('heading', { name: 'Sign in to Keygate' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

    const forged = `${(await tokenFor('forged')).slice(0, -4)}AAAA`;
    await page.getByRole('textbox', { name: 'Token' }).fill(forged);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Keygate did not accept your token' }).waitFor();
    await page.getByRole('textbox', { name: 'Token' }).fill('not a token');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText(/whitespace/).waitFor();

    await page.getByRole('textbox', { name: 'Token' }).fill(await tokenFor('errors'));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Applications' }).waitFor();
    await page.route('**/graphql', (route) => route.fulfill({ status: 503, body: 'upstream unavailable' }));
    await page.getByRole('link', { name: 'Audit trail', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'server error (HTTP 503)' }).waitFor();
    await page.unroute('**/graphql');
    await context.setOffline(true);
    await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'You are offline' }).waitFor();
    await screenshot(page, 'offline');
    await context.setOffline(false);
    await page.getByRole('link', { name: 'Applications', exact: true }).click();
    await page.getByText('You have no applications yet.').waitFor();
    await context.close();
  });

  it('asks before a link for another merchant replaces the session open in this tab', async () => {
    const { page, context, problems } = await open('/applications', await tokenFor('switch-a'));
    await page.getByText('Merchant switch-a').waitFor();
    // Same merchant and person: a fresh token is taken without a question.
    await page.goto(`/audit#token=${await tokenFor('switch-a')}`);
    await page.getByRole('heading', { name: 'Audit trail' }).waitFor();
    expect(await page.getByRole('alertdialog').count()).toBe(0);
    // Another merchant: asked; staying keeps the open session.
    const other = await tokenFor('switch-b');
    await page.goto(`/applications#token=${other}`);
    const prompt = page.getByRole('alertdialog', { name: 'Switch to another merchant?' });
    await prompt.waitFor();
    expect(await prompt.textContent()).toContain('signed in as switch-a (user@switch-a)');
    expect(page.url()).not.toContain('token=');
    await screenshot(page, 'switch-merchant');
    await prompt.getByRole('button', { name: 'Stay signed in as switch-a (user@switch-a)' }).click();
    await page.getByText('Merchant switch-a').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('keygate.token'))).not.toBe(other);
    // Asked again, switching signs in as the link's merchant.
    await page.goto(`/webhooks#token=${other}`);
    await prompt.getByRole('button', { name: 'Switch to switch-b (user@switch-b)' }).click();
    await page.getByText('Merchant switch-b').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('keygate.token'))).toBe(other);
    expect(problems).toEqual([]);
    await context.close();
  });
});
