// Every screen of the dashboard with a merchant's realistic data, at 1280, 768 and 390 px, in
// Debian's Chromium against the built server on PostgreSQL: long names and URLs, a key rolled
// with a day's grace, keys in every status, a week of traffic, refusals, an audit trail.
// Nothing is wider than its container, every row's actions are reachable without scrolling
// sideways, axe-core finds no violation of any impact, and each screen is saved as a screenshot.
import { join } from 'node:path';
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
import { createPostgresDatabase } from '../support/database.ts';
import { APP_NAME, LONG_NAME, LONG_URL, type SeededMerchant, seedMerchant } from '../support/merchant-seed.ts';
import { type KeygateProcess, repoRoot, startKeygate, tempDirs } from '../support/process.ts';

const SECRET = 'dashboard-screens-secret-0123456789abcdef';
const dirs = tempDirs();
let keygate: KeygateProcess;
let browser: Browser;
let databaseUrl: string;
let token: string;

let seeded: SeededMerchant;

beforeAll(async () => {
  databaseUrl = await createPostgresDatabase();
  keygate = await startKeygate(
    {
      KEYGATE_DATA_DIR: dirs.make(),
      KEYGATE_JWT_SECRET: SECRET,
      DATABASE_URL: databaseUrl,
      KEYGATE_USAGE_FLUSH_MS: '200',
      KEYGATE_DASHBOARD_API_URL: 'https://api.northwind-trading.example.com/v1/orders',
      KEYGATE_DASHBOARD_KEY_HEADER: 'X-Api-Key',
    },
    [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')],
    repoRoot,
  );
  token = await signToken(
    new TextEncoder().encode(SECRET),
    { merchant_id: 'northwind-trading' },
    { subject: 'dana.fernandes@northwind-trading.example.com', expiresIn: '1h' },
  );
  seeded = await seedMerchant(keygate.url, token, databaseUrl);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (keygate) await keygate.stop();
  dirs.removeAll();
});

const WIDTHS = [
  { width: 1280, height: 900 },
  { width: 768, height: 1000 },
  { width: 390, height: 844 },
] as const;

describe.each(WIDTHS)('every screen at $width px', { timeout: 180_000 }, (viewport) => {
  let page: Page;
  const checked: string[] = [];
  const check = async (screen: string, { dialog = false } = {}) => {
    await page.waitForLoadState('networkidle');
    expect(await overflows(page), `${screen} at ${viewport.width} px`).toEqual([]);
    await expectAccessible(page, `${screen} at ${viewport.width} px`, { strict: true });
    await screenshot(page, `screen-${screen}-${viewport.width}`, { fullPage: !dialog });
    checked.push(screen);
  };

  it('fits, reads and passes axe-core with realistic data', async () => {
    const context = await newContext(browser, keygate.url, viewport);
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const problems = watchProblems(page);
    // The landing screen: traffic of all keys, refusals explained, what needs attention.
    await page.goto(`/#token=${token}`);
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await page.locator('.uplot').first().waitFor();
    const reasons = page.getByRole('region', { name: 'Why requests were refused' });
    expect(await reasons.textContent()).toContain('Rate limited');
    expect(await reasons.textContent()).toContain('slow down and retry');
    const expiring = page.getByRole('region', { name: /^Expiring in the next 7 days/ });
    expect(await expiring.textContent()).toContain('Quarterly report exporter');
    const unused = page.getByRole('region', { name: /^Unused for 30 days or more/ });
    expect(await unused.textContent()).toContain('Old partner integration');
    // Keys used unlike before, in words.
    const unusual = page.getByRole('region', { name: 'Unusual use this week' });
    expect(await unusual.textContent()).toContain('First use from 185.220.101.0/24');
    expect(await unusual.textContent()).toContain('4,180 verifications in one hour; usually 312.5 an hour');
    // Keys made before the policy, each with the rule it breaks.
    const outOfPolicy = page.getByRole('region', { name: /^Out of your key policy/ });
    expect(await outOfPolicy.textContent()).toContain('Lives too long');
    await check('overview');
    // Key hygiene: one of the unused keys revoked from here, after a confirmation.
    const stale = `Store terminal 00${WIDTHS.indexOf(viewport) + 1}`;
    await unused.getByRole('button', { name: `Revoke ${stale}` }).click();
    const confirm = page.getByRole('alertdialog', { name: `Revoke ${stale}?` });
    await confirm.getByRole('button', { name: 'Revoke key' }).click();
    await confirm.waitFor({ state: 'detached' });
    await expect.poll(() => unused.getByRole('link', { name: stale }).count()).toBe(0);
    // A key nobody used in the window: its page suggests revoking it, with one confirmed step.
    // (Loaded afresh: the announcer React Aria leaves after the dialog above refers to what is gone.)
    const unusedKey = await unused.getByRole('link', { name: 'Old partner integration' }).getAttribute('href');
    await page.goto(unusedKey!);
    await page.getByRole('heading', { name: 'Old partner integration', level: 1 }).waitFor();
    const suggested = page.getByRole('region', { name: 'Unused: revoke it?' });
    expect(await suggested.textContent()).toContain('No verification passed with this key in 30 days');
    await check('key-unused');

    await page.goto('/applications');
    await page.getByRole('link', { name: APP_NAME }).waitFor();
    await check('applications');

    await page.goto(`/applications/${seeded.app}`);
    const longRow = page.getByRole('row', { name: new RegExp(LONG_NAME.slice(0, 30)) });
    await longRow.waitFor();
    // The application's usage: the week of traffic of its keys, by day.
    const appUsage = page.getByRole('region', { name: 'Usage of all its keys' });
    await appUsage.locator('.uplot').waitFor();
    expect(await appUsage.locator('figcaption').textContent()).toMatch(/Valid: [1-9][\d,]{4,}/);
    // A key issued before Keygate says so.
    expect(await page.getByRole('row', { name: /^Legacy integration/ }).textContent()).toContain('Imported');
    await check('keys');
    // Every row's actions are on screen, without scrolling sideways.
    const buttons = page.getByRole('button', { name: /^Actions for / });
    expect(await buttons.count()).toBeGreaterThan(5);
    for (const button of await buttons.all()) {
      const box = (await button.boundingBox())!;
      expect(box.x + box.width, (await button.getAttribute('aria-label')) ?? '').toBeLessThanOrEqual(viewport.width);
    }
    // The long website URL is shortened where it does not fit, and whole on hover and to readers.
    const url = longRow.getByText(LONG_URL.slice(0, 40), { exact: false });
    expect(await url.getAttribute('title')).toBe(LONG_URL);
    // Opening the menu leaves the row's name in view.
    await page.getByRole('button', { name: `Actions for ${LONG_NAME}` }).click();
    await page.getByRole('menu').waitFor();
    expect(await longRow.getByRole('link', { name: LONG_NAME }).isVisible()).toBe(true);
    await check('keys-menu');
    await page.keyboard.press('Escape');

    // IP rules of a key with none: deny the rest and be warned; add your own address in one step;
    // a fixed rule's error goes away as it is fixed.
    await page.getByRole('button', { name: 'Actions for Mobile apps (iOS and Android)' }).click();
    await page.getByRole('menuitem', { name: 'IP rules' }).click();
    const rules = page.getByRole('dialog', { name: 'IP rules for Mobile apps (iOS and Android)' });
    await rules.getByText('Your address, as Keygate sees it:').waitFor();
    expect(await rules.textContent()).toContain('Your address, as Keygate sees it: 127.0.0.1');
    await rules.getByRole('button', { name: /Addresses no rule matches$/ }).click();
    await page.getByRole('option', { name: 'Deny', exact: true }).click();
    await rules.getByText('every request with this key will be refused').waitFor();
    await rules.getByRole('button', { name: 'Add rule' }).click();
    const bad = rules.getByLabel('Rule 1: address or range');
    await bad.fill('10.0.0.300');
    await rules.getByRole('button', { name: 'Save rules' }).click();
    await expect.poll(() => bad.getAttribute('aria-invalid')).toBe('true');
    await bad.fill('10.0.0.0/8');
    await expect.poll(() => bad.getAttribute('aria-invalid')).not.toBe('true');
    await rules.getByRole('button', { name: 'Add my address' }).click();
    expect(await rules.getByLabel('Rule 1: address or range').inputValue()).toBe('127.0.0.1');
    expect(await rules.getByText('every request with this key will be refused').count()).toBe(0);
    await check('ip-rules', { dialog: true });
    await rules.getByRole('button', { name: 'Close' }).click();
    await rules.waitFor({ state: 'detached' });

    await page.goto(`/keys/${seeded.long}`);
    await page.getByRole('heading', { name: LONG_NAME, level: 1 }).waitFor();
    await page.locator('.uplot').first().waitFor();
    // How to call the platform's API with this key, as the platform configured it; the prefix stands
    // in for the secret, which the dashboard never has.
    const curl = (await page.getByTestId('snippet-curl').textContent()) ?? '';
    expect(curl).toMatch(
      /^curl 'https:\/\/api\.northwind-trading\.example\.com\/v1\/orders' \\\n {2}-H 'X-Api-Key: kg_live_\w{4}…'$/,
    );
    await page.getByRole('tab', { name: 'Python (requests)' }).click();
    await page.getByRole('button', { name: 'Copy Python (requests)' }).click();
    await page.getByText('Copied to the clipboard.').waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toContain('requests.get(');
    // Its roles, and the scopes they add to its own; whose key it is.
    expect(await page.locator('.facts').textContent()).toContain('Customer support, tier 2');
    expect(await page.locator('.facts').textContent()).toContain('cus_NwT8fJ2kLm93Qa');
    expect(await page.locator('.facts').textContent()).toContain('chargebacks:*');
    expect(await page.getByRole('region', { name: /^Unusual use/ }).textContent()).toContain('185.220.101.0/24');
    await check('key');

    await page.goto(`/keys/${seeded.rolledFrom}`);
    await page.getByRole('heading', { name: 'Staging checkout (EU)', level: 1 }).waitFor();
    await check('key-rolled');

    await page.goto('/identities');
    const customerRow = page.getByRole('row', { name: /^Northwind Trading Company/ });
    await customerRow.waitFor();
    expect(await customerRow.textContent()).toContain('cus_NwT8fJ2kLm93Qa');
    await check('identities');
    await customerRow.getByRole('link').click();
    await page.getByRole('heading', { name: /^Northwind Trading Company/, level: 1 }).waitFor();
    // Its keys of the application, and their week of traffic together.
    const itsKeys = page.getByRole('region', { name: 'Its keys' });
    await itsKeys.getByRole('link', { name: LONG_NAME }).waitFor();
    await itsKeys.getByRole('link', { name: 'Mobile apps (iOS and Android)' }).waitFor();
    const identityUsage = page.getByRole('region', { name: 'Usage of all its keys' });
    await identityUsage.locator('.uplot').waitFor();
    expect(await identityUsage.locator('figcaption').textContent()).toMatch(/Valid: [1-9][\d,]{4,}/);
    expect(await page.getByRole('region', { name: 'Limits its keys share' }).textContent()).toContain(
      'Shared rate limits',
    );
    await check('identity');

    await page.goto('/roles');
    const supportRow = page.getByRole('row', { name: /^Customer support, tier 2/ });
    await supportRow.waitFor();
    expect(await supportRow.textContent()).toContain('chargebacks:*');
    await check('roles');
    // Editing a role says how many keys follow it.
    await page.getByRole('button', { name: 'Actions for Catalog reader' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    const editRole = page.getByRole('dialog', { name: 'Edit Catalog reader' });
    await editRole.getByText('applies to the 1 key with this role at once').waitFor();
    await check('role-edit', { dialog: true });
    // A wildcard would reach its live key, which the key policy forbids: refused, said on the field.
    await editRole.getByLabel('Scopes').fill('catalog:* prices:read');
    await editRole.getByRole('button', { name: 'Save role' }).click();
    await editRole
      .getByText('live keys may not hold wildcard scopes (catalog:*), for the key with this role')
      .first()
      .waitFor();
    await check('role-edit-refused', { dialog: true });
    await editRole.getByRole('button', { name: 'Cancel' }).click();
    await editRole.waitFor({ state: 'detached' });

    // The key policy: its rules, the keys outside it, and what a stricter one would find.
    await page.goto('/policy');
    await page.getByRole('heading', { name: 'Key policy', level: 1 }).waitFor();
    expect(await page.getByLabel('Live keys expire within (days)').inputValue()).toBe('365');
    const out = page.getByRole('region', { name: /^Keys out of policy/ });
    await out.getByRole('link', { name: 'Store terminal 010' }).waitFor();
    expect(await out.textContent()).toContain('Wildcard scope in live');
    await page.getByLabel('Allowed scopes').fill('orders:read refunds:*');
    await page.getByRole('button', { name: 'Preview affected keys' }).click();
    const preview = page.getByRole('region', { name: /existing keys would be out of this policy$/ });
    await preview.waitFor();
    expect(await preview.textContent()).toContain('Scopes outside the allowed list');
    expect(await preview.textContent()).toContain('Nothing was changed');
    expect(await page.getByRole('region', { name: 'When a key is used unusually' }).textContent()).toContain(
      'Burst of refusals',
    );
    await check('policy');

    await page.goto('/audit');
    await page.locator('tbody tr').first().waitFor();
    // Read by people: names, prefixes and sentences, no internal id and no JSON.
    const trail = (await page.locator('tbody').textContent()) ?? '';
    expect(trail).toContain("Renamed 'Staging checkout' to 'Staging checkout (EU)'");
    expect(trail).toContain('Key disabled');
    expect(trail).toContain('3 allow rules, default deny');
    expect(trail).toMatch(/Key Leaked in a public repository kg_live_\w{4}…/);
    expect(trail).not.toMatch(/[{}"]|QXB|applicationId|newKeyId/);
    await check('audit');
    // Filtered by a key picked by name; the filter stays in the address across a reload.
    await page.getByRole('button', { name: /Application$/ }).click();
    await page.getByRole('option', { name: APP_NAME }).click();
    await page.getByRole('button', { name: /Key$/ }).click();
    // The rolled key (listed after its replacement, which is newer): its creation, edit and roll.
    await page
      .getByRole('option', { name: /^Staging checkout \(EU\) \(kg_live_/ })
      .last()
      .click();
    await expect.poll(() => page.url()).toContain('key=');
    await page.reload();
    await expect.poll(() => page.locator('tbody tr').count()).toBeGreaterThan(0);
    const filtered = (await page.locator('tbody').textContent()) ?? '';
    expect(filtered).toContain('Key rolled');
    expect(await page.locator('tbody tr').count()).toBe(3); // created, renamed, rolled
    expect(filtered).not.toContain('Store terminal');

    await page.goto('/webhooks');
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    await check('webhooks');

    expect(problems).toEqual([]);
    expect(checked).toHaveLength(16);
    await context.close();
  });
});

describe('in dark mode, as the system asks', { timeout: 120_000 }, () => {
  it('follows the system, and every screen keeps its contrast', async () => {
    const viewport = { width: 1280, height: 900 };
    const context = await newContext(browser, keygate.url, viewport, 'dark');
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const problems = watchProblems(page);
    const check = async (screen: string) => {
      await page.waitForLoadState('networkidle');
      expect(await overflows(page), screen).toEqual([]);
      // axe-core's colour-contrast rule runs on the dark colours.
      await expectAccessible(page, `${screen} (dark)`, { strict: true });
      await screenshot(page, `screen-${screen}-dark`);
    };
    await page.goto(`/#token=${token}`);
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await page.locator('.uplot').first().waitFor();
    // The page is dark: its background is the dark wash, not white.
    expect(await page.evaluate(() => getComputedStyle(document.body.parentElement!).backgroundColor)).toBe(
      'rgb(12, 17, 29)',
    );
    await check('overview');
    await page.goto(`/applications/${seeded.app}`);
    await page.getByRole('row', { name: new RegExp(LONG_NAME.slice(0, 30)) }).waitFor();
    await check('keys');
    await page.goto(`/keys/${seeded.long}`);
    await page.locator('.uplot').first().waitFor();
    await check('key');
    await page.goto('/audit');
    await page.locator('tbody tr').first().waitFor();
    await check('audit');
    expect(problems).toEqual([]);
    await context.close();
  });
});
