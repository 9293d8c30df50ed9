// Writes schema/schema.graphql from the Pothos schema; with --check, fails
// instead when the committed file differs (the drift check CI runs).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { printKeygateSchema } from '../src/index.ts';

// --file <path> checks (or writes) another copy; the drift test uses it on a stale one.
const fileFlag = process.argv.indexOf('--file');
const target =
  fileFlag > 0 ? process.argv[fileFlag + 1]! : fileURLToPath(new URL('../schema.graphql', import.meta.url));
const printed = printKeygateSchema();

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {}
  if (committed !== printed) {
    console.error('schema/schema.graphql is stale: run `pnpm generate` and commit the result.');
    process.exit(1);
  }
  console.log('schema/schema.graphql is up to date.');
} else {
  writeFileSync(target, printed);
  console.log(`wrote ${target}`);
}
