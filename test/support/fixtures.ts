// The API tests' one fixture: Keygate's app on a fresh database for each test
// file (`h`), emptied before every test, with its token signer. A file that
// needs other settings overrides `harnessOptions` once at its top.
import { test as base } from 'vitest';
import { createHarness, type HarnessOptions } from './harness.ts';

export const test = base
  .extend('harnessOptions', { scope: 'file' }, {} as HarnessOptions)
  .extend('h', { scope: 'file' }, async ({ harnessOptions }, { onCleanup }) => {
    const h = await createHarness(harnessOptions);
    onCleanup(() => h.close());
    return h;
  })
  .extend('fresh', { auto: true }, async ({ h, harnessOptions }) => {
    // Merchants stay: the app remembers which merchants it has created.
    if (harnessOptions.fresh !== false) await h.db.truncate();
    return true;
  });

export { describe, expect } from 'vitest';
