// `pnpm start`: runs Keygate until SIGINT/SIGTERM.
import { ConfigError, loadConfig } from './config.ts';
import { MigrationError } from './db/migrate.ts';
import { DatabaseUnavailableError } from './db/wait-for-postgres.ts';
import { createLogger } from './logger.ts';
import { startServer } from './server.ts';

const logger = createLogger();
try {
  const server = await startServer(loadConfig(), { logger });
  // Without its database Keygate can answer nothing: exit, so that a supervisor starts it again.
  server.database.onFailure((error) => {
    logger.fatal({ err: error }, 'the database stopped working; exiting');
    process.exit(1);
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal}: shutting down`);
    await server.close();
    logger.info('stopped: in-flight requests answered, last-used times written, database closed');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
} catch (error) {
  if (error instanceof ConfigError || error instanceof MigrationError || error instanceof DatabaseUnavailableError) {
    console.error(`keygate: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
