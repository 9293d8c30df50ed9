// Prints what the dashboard's first load costs in JavaScript, gzipped: the entry script and
// every module it preloads, as index.html names them (later screens load on demand). The
// build fails above the budget, so a dependency that bloats the first load is noticed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET = 250 * 1024;
const dist = join(import.meta.dirname, '..', 'dist');
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const scripts = [...html.matchAll(/<(?:script[^>]+src|link[^>]+rel="modulepreload"[^>]+href)="([^"]+\.js)"/g)].map(
  (match) => match[1],
);
let total = 0;
for (const src of scripts) {
  const gzipped = gzipSync(readFileSync(join(dist, src)), { level: 9 }).length;
  total += gzipped;
  console.log(`  ${src}  ${(gzipped / 1024).toFixed(1)} KB gzipped`);
}
const verdict = total <= BUDGET ? 'within' : 'OVER';
console.log(
  `dashboard first-load JavaScript: ${(total / 1024).toFixed(1)} KB gzipped (${verdict} the ${BUDGET / 1024} KB budget)`,
);
if (total > BUDGET) process.exit(1);
