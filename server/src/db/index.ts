// Storage: opening either database, the migrator, and the offline schema diff.
export { type Database, openDatabase, type StorageOptions } from './database.ts';
export { MigrationError, migrate } from './migrate.ts';
export { readMigrations, schemaPath } from './migrations.ts';
export { diffMigrationsToSchema } from './schema-engine.ts';
