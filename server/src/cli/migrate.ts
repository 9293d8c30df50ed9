// `pnpm db:migrate`: applies pending migrations to DATABASE_URL (or to the
// embedded database when it is unset) and reports what it did.
import { loadConfig } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { StartupError } from '../startup-error.ts';

try {
  const config = loadConfig();
  const database = await openDatabase(config.storage);
  try {
    const { applied, modified } = await database.migrate();
    const target =
      config.storage.kind === 'postgres'
        ? 'PostgreSQL (DATABASE_URL)'
        : `embedded database in ${config.storage.dataDir}`;
    console.log(applied.length ? `applied to ${target}: ${applied.join(', ')}` : `${target} is up to date`);
    for (const name of modified) console.warn(`warning: migration ${name} was changed after it was applied`);
  } finally {
    await database.close();
  }
} catch (error) {
  if (error instanceof StartupError) {
    console.error(`keygate db:migrate: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
