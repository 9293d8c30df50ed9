// Builds what is published: dist/*.js bundled by esbuild (Keygate's engine from @keygate/core
// is inlined, so consumers install only lru-cache and ipaddr.js), and dist/*.d.ts for the public
// entry points, which name only this package's own types.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const entries = ['index', 'express', 'fastify', 'hono'];
const declarations = [...entries, 'http', 'requirements', 'types'];
const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: entries.map((name) => `src/${name}.ts`),
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  conditions: ['@keygate/source'],
  external: Object.keys(pkg.dependencies),
  chunkNames: 'chunks/[name]-[hash]',
  legalComments: 'none',
  logLevel: 'warning',
});
const tsc = new URL('./node_modules/.bin/tsc', import.meta.url).pathname;
execFileSync(tsc, ['-p', 'tsconfig.build.json'], { stdio: 'inherit' });
mkdirSync('dist', { recursive: true });
for (const name of declarations) {
  // Consumers resolve ./types.js; the sources say ./types.ts.
  const text = readFileSync(`node_modules/.dts/verifier/src/${name}.d.ts`, 'utf8').replace(
    /(from '\.\/[a-z-]+)\.ts'/g,
    "$1.js'",
  );
  writeFileSync(`dist/${name}.d.ts`, text);
}
console.log(`built @keygate/verifier: dist/{${entries.join(',')}}.js and their declarations`);
