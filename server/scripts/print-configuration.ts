// Writes docs/configuration.md from the variables table in server/src/config.ts;
// with --check, fails instead when the committed page differs (the drift check CI runs).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configurationReference } from '../src/config-reference.ts';

// --file <path> checks (or writes) another copy; the drift test uses it on a stale one.
const fileFlag = process.argv.indexOf('--file');
const target =
  fileFlag > 0 ? process.argv[fileFlag + 1]! : fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));
const printed = configurationReference();

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {}
  if (committed !== printed) {
    console.error('docs/configuration.md is stale: run `pnpm generate` and commit the result.');
    process.exit(1);
  }
  console.log('docs/configuration.md is up to date.');
} else {
  writeFileSync(target, printed);
  console.log(`wrote ${target}`);
}
