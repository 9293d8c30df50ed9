// Prisma CLI configuration. Keygate applies migrations with its own migrator
// (`pnpm db:migrate`), but keeping this file lets anyone with network access
// use the plain Prisma commands (`prisma migrate status`) on the same database.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
});
