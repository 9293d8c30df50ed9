export { type AuthConfig, type Config, ConfigError, loadConfig } from './config.ts';
export { AuthenticationError, createAuthenticator, devSecretPath, loadAuth } from './auth.ts';
export { type Database, type StorageOptions, openDatabase } from './db/database.ts';
export { migrate, MigrationError } from './db/migrate.ts';
export { readMigrations } from './db/migrations.ts';
export { createApp } from './yoga.ts';
export { startServer, type RunningServer } from './server.ts';
