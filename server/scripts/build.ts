// `pnpm build`: the server as plain JavaScript, server/dist/main.js, for production
// (`node server/dist/main.js`): no tsx and no TypeScript at run time. Our own
// packages (core, schema, server) and pure-JavaScript dependencies are bundled;
// what loads files of its own at run time (PGlite's WebAssembly, Prisma's runtime)
// or has optional native parts stays in node_modules, from where it is imported.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const serverDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(serverDir, 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const started = Date.now();
await build({
  entryPoints: [join(serverDir, 'src', 'main.ts')],
  outfile: join(out, 'main.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  conditions: ['@keygate/source'],
  external: [
    '@electric-sql/pglite',
    '@electric-sql/pglite/*',
    'pglite-prisma-adapter',
    '@prisma/client',
    '@prisma/client/*',
    '@prisma/adapter-pg',
    '@prisma/driver-adapter-utils',
    'pg',
    'pg-native',
    'pino',
    'tsx',
    'tsx/*',
  ],
  // Bundled CommonJS dependencies may call require(): give the ES module one.
  banner: {
    js: "import { createRequire as __keygateRequire } from 'node:module'; const require = __keygateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
// The PGlite worker threads are plain JavaScript files loaded by URL beside the module.
for (const worker of ['pglite-worker.mjs', 'pglite-initdb-worker.mjs']) {
  copyFileSync(join(serverDir, 'src', 'db', worker), join(out, worker));
}
console.log(`built server/dist/main.js in ${Date.now() - started} ms`);
