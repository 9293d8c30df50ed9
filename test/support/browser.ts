// A real browser for the dashboard's tests: Debian's Chromium driven by Playwright, axe-core
// for accessibility, and screenshots kept as artefacts in test-results/dashboard/.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { repoRoot } from './process.ts';

export const SCREENSHOTS = join(repoRoot, 'test-results', 'dashboard');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}

/** A fresh browser profile on the dashboard's origin, allowed to use the clipboard. */
export async function newContext(
  browser: Browser,
  origin: string,
  viewport = { width: 1280, height: 860 },
  colorScheme: 'light' | 'dark' = 'light',
): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport, baseURL: origin, colorScheme });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  return context;
}

/** Records what the page complained about: uncaught errors and console errors. */
export function watchProblems(page: Page, allow: RegExp[] = []): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && !allow.some((pattern) => pattern.test(message.text())))
      problems.push(message.text());
  });
  return problems;
}

/** The whole page, or (for a dialog, which floats over the viewport) what the viewport shows. */
export async function screenshot(page: Page, name: string, { fullPage = true } = {}) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // An open dialog sits in a viewport-high overlay: a full-page capture would show the page below
  // the viewport drawn over it, which no one ever sees. Capture what the user sees instead.
  const modal = await page.locator('[role="dialog"]').count();
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: fullPage && modal === 0 });
}

/**
 * axe-core over the page as it is (WCAG 2.1 A and AA rules, and best practices): no serious or
 * critical violation, or with `strict` no violation of any impact.
 */
export async function expectAccessible(page: Page, screen: string, { strict = false } = {}) {
  const results = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'])
    .analyze();
  const grave = results.violations
    .filter((violation) => strict || violation.impact === 'serious' || violation.impact === 'critical')
    .map(
      (violation) =>
        `${screen}: ${violation.id} (${violation.impact}): ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`,
    );
  expect(grave).toEqual([]);
  // The check ran over the screen, not an empty page.
  expect(results.passes.length).toBeGreaterThan(5);
}

/**
 * What does not fit the viewport: the page or any box scrolling sideways, and any visible element
 * ending right of the viewport (so cut off, or reachable only by scrolling sideways). Each as
 * "<tag.class "text"> what"; empty when everything fits.
 */
export function overflows(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const problems: string[] = [];
    const name = (el: Element) =>
      `<${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''} "${(el.textContent ?? '').trim().slice(0, 40)}">`;
    if (document.documentElement.scrollWidth > width) {
      problems.push(`the page is ${document.documentElement.scrollWidth} px wide in a ${width} px viewport`);
    }
    // The outermost offender only: what is inside it is past the edge because it is.
    const past = new Set<Element>();
    for (const el of document.querySelectorAll('body *')) {
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden' || style.display === 'none') continue;
      if ((style.overflowX === 'auto' || style.overflowX === 'scroll') && el.scrollWidth > el.clientWidth + 1) {
        problems.push(`${name(el)} scrolls sideways (${el.scrollWidth} px in ${el.clientWidth} px)`);
      }
      const box = el.getBoundingClientRect();
      // Visually hidden text is 1 px and clipped; anything larger that ends past the edge is cut off,
      // unless an ancestor inside the viewport clips it (overflow hidden: an ellipsis, a hidden select).
      const clipped = () => {
        for (let up = el.parentElement; up; up = up.parentElement) {
          const overflow = getComputedStyle(up).overflowX;
          if ((overflow === 'hidden' || overflow === 'clip') && up.getBoundingClientRect().right <= width + 1)
            return true;
        }
        return false;
      };
      if (box.width > 1 && box.height > 1 && box.right > width + 1 && !clipped()) {
        past.add(el);
        if (!el.parentElement || !past.has(el.parentElement)) {
          problems.push(`${name(el)} ends at ${Math.round(box.right)} px, past the ${width} px viewport`);
        }
      }
    }
    return problems;
  });
}
