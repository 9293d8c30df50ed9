// `pnpm build`: the server as plain JavaScript, server/dist/main.js, for production
// (`node server/dist/main.js`): no tsx and no TypeScript at run time. Our own
// packages (core, schema, server) and pure-JavaScript dependencies are bundled;
// what loads files of its own at run time (PGlite's WebAssembly, Prisma's runtime)
// or has optional native parts stays in node_modules, from where it is imported.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const serverDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(serverDir, 'dist');
// Built beside dist/ and swapped in whole: a server starting meanwhile never meets half a build.
const out = join(serverDir, `dist.next-${process.pid}`);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const started = Date.now();

// Prisma's query compiler is WebAssembly that the generated client imports as a base64 string
// module: 4.4 MB of module source plus the 4.4 MB string it exports, both held for as long as
// the server runs. The build decodes it once into query_compiler.wasm beside main.js, and the
// bundled client reads that file instead (the buffer is garbage once compiled).
const WASM_IMPORT = '@prisma/client/runtime/query_compiler_fast_bg.postgresql.wasm-base64.mjs';
const generatedClient = /services\/src\/generated\/prisma\/internal\/class\.ts$/;
const wasmModuleGetter =
  /getQueryCompilerWasmModule: async \(\) => \{\s*const \{ wasm \} = await import\("([^"]+)"\)\s*return await decodeBase64AsWasm\(wasm\)\s*\}/;
const fromServices = createRequire(join(serverDir, '..', 'services', 'package.json'));
const { wasm } = (await import(fromServices.resolve(WASM_IMPORT))) as { wasm: string };
writeFileSync(join(out, 'query_compiler.wasm'), Buffer.from(wasm, 'base64'));
const prismaWasmFromFile = {
  name: 'prisma-wasm-from-file',
  setup(pluginBuild: import('esbuild').PluginBuild) {
    pluginBuild.onLoad({ filter: generatedClient }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const match = wasmModuleGetter.exec(source);
      if (!match || match[1] !== WASM_IMPORT) {
        throw new Error(`the generated Prisma client no longer loads ${WASM_IMPORT} as the build expects`);
      }
      const replaced = source.replace(
        wasmModuleGetter,
        `getQueryCompilerWasmModule: async () => {
    const { readFile } = await import('node:fs/promises')
    return new WebAssembly.Module(await readFile(new URL('./query_compiler.wasm', import.meta.url)))
  }`,
      );
      return { contents: replaced, loader: 'ts' };
    });
  },
};

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
    // One copy of the OpenTelemetry API for Keygate and the SDK; the SDK is imported only when tracing is on.
    '@opentelemetry/*',
    // Imported at the first GraphiQL visit only (9 MB of source).
    '@graphql-yoga/render-graphiql',
  ],
  // Smaller source is less memory: V8 keeps every module's source text for as long as it runs.
  // Identifiers keep their names: esbuild's keepNames would instead call defineProperty for
  // every closure created at run time (2.6 % of a dashboard page's profile, and one per
  // forward-auth request), and stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  // Bundled CommonJS dependencies may call require(): give the ES module one.
  banner: {
    js: "import { createRequire as __keygateRequire } from 'node:module'; const require = __keygateRequire(import.meta.url);",
  },
  plugins: [prismaWasmFromFile],
  logLevel: 'warning',
});
// The PGlite worker threads are plain JavaScript files loaded by URL beside the module.
for (const worker of ['pglite-worker.mjs', 'pglite-initdb-worker.mjs']) {
  copyFileSync(join(serverDir, 'src', 'db', worker), join(out, worker));
}
const old = join(serverDir, `dist.old-${process.pid}`);
if (existsSync(dist)) renameSync(dist, old);
renameSync(out, dist);
rmSync(old, { recursive: true, force: true });
console.log(`built server/dist/main.js in ${Date.now() - started} ms`);
