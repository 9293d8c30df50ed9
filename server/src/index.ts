export {
  AuthenticationError,
  AuthenticationUnavailableError,
  createAuthenticator,
  devSecretPath,
  loadAuth,
  MISSING_CREDENTIALS,
  REJECTED_CREDENTIALS,
} from './auth.ts';
export { type AuthConfig, type Config, ConfigError, loadConfig } from './config.ts';
export { type Database, openDatabase, type StorageOptions } from './db/database.ts';
export { MigrationError, migrate } from './db/migrate.ts';
export { readMigrations } from './db/migrations.ts';
export { createLogger, type Logger } from './logger.ts';
export { type RunningServer, startServer } from './server.ts';
export { CHANNEL } from './verification/invalidation.ts';
export { createApp } from './yoga.ts';
