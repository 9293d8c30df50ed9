export { type RunningServer, startServer } from './app/server.ts';
export { type Authenticator, createAuthenticator, type Principal } from './auth/authenticator.ts';
export {
  AuthenticationError,
  AuthenticationUnavailableError,
  MISSING_CREDENTIALS,
  REJECTED_CREDENTIALS,
} from './auth/errors.ts';
export { devSecretPath, loadAuth } from './auth/secret.ts';
export { type AuthConfig, type Config, ConfigError, loadConfig, variables } from './config.ts';
export { configurationReference } from './config-reference.ts';
export { type Database, openDatabase, type StorageOptions } from './db/database.ts';
export { MigrationError, type MigrationSession, migrate } from './db/migrate.ts';
export { migrationsBefore, readMigrations } from './db/migrations.ts';
export { createLogger, type Logger } from './observability/logger.ts';
export { startTracing, type Tracing, type TracingConfig, tracingConfig } from './observability/tracing.ts';
export { CHANNEL } from './verification/invalidation.ts';
