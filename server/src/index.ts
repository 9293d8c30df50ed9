export { type Authenticator, createAuthenticator, type Principal } from './auth/authenticator.ts';
export {
  AuthenticationError,
  AuthenticationUnavailableError,
  MISSING_CREDENTIALS,
  REJECTED_CREDENTIALS,
} from './auth/errors.ts';
export { devSecretPath, loadAuth } from './auth/secret.ts';
export { type AuthConfig, type Config, ConfigError, loadConfig } from './config.ts';
export { type Database, openDatabase, type StorageOptions } from './db/database.ts';
export { MigrationError, migrate } from './db/migrate.ts';
export { readMigrations } from './db/migrations.ts';
export { createLogger, type Logger } from './logger.ts';
export { LIMITS } from './plugins/abuse-limits.ts';
export { measure, measureOperation } from './plugins/query-cost.ts';
export { type RunningServer, startServer } from './server.ts';
export { startTracing, type Tracing, type TracingConfig, tracingConfig } from './tracing.ts';
export { CHANNEL } from './verification/invalidation.ts';
export { createApp } from './yoga.ts';
