// `pnpm start` runs the built server (server/dist/main.js, serving the dashboard from web/dist), as production does. `pnpm install`
// builds it; this rebuilds it first when a source is newer than the build (after an edit or a
// pull), so that `pnpm start` never runs stale code. Plain JavaScript: it runs before anything
// is compiled.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// The older of the two builds: the server's and the dashboard's.
const built = Math.min(
  ...['server/dist/main.js', 'web/dist/index.html'].map(
    (path) => statSync(join(root, path), { throwIfNoEntry: false })?.mtimeMs ?? 0,
  ),
);

/** Whether any file under `path` (or `path` itself) changed after the build. */
function newer(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return false;
  if (!stat.isDirectory()) return stat.mtimeMs > built;
  return readdirSync(path).some((entry) => entry !== 'node_modules' && newer(join(path, entry)));
}

const sources = [
  'core/src',
  'schema/src',
  'server/src',
  'server/scripts/build.ts',
  'sdk/src',
  'web/src',
  'web/index.html',
  'web/vite.config.ts',
  'web/package.json',
  'core/package.json',
  'schema/package.json',
  'server/package.json',
  'pnpm-lock.yaml',
];
if (built === 0 || sources.some((source) => newer(join(root, source)))) {
  console.error(
    built === 0 ? 'keygate: building the server…' : 'keygate: sources changed since the build; rebuilding…',
  );
  const result = spawnSync('pnpm', ['--silent', 'build'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
