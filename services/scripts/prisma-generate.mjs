// Runs `prisma generate` (Prisma client + Pothos types) without network access.
//
// The Prisma CLI insists on a schema engine binary before it generates, and
// downloads one when none is installed. Generating never runs that engine, so
// when no engine is configured we point the CLI at an existing file instead of
// letting it try a download that fails offline. With an engine configured (or
// network access and an installed engine) this changes nothing.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1' };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;

const result = spawnSync('pnpm', ['exec', 'prisma', 'generate'], { cwd: root, env, stdio: 'inherit' });
process.exit(result.status ?? 1);
