import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// Node loads graphql's CommonJS build for the dependencies vitest leaves to it,
// while Vite would give our own sources the .mjs build: two graphql instances
// break `instanceof GraphQLError`. Everything gets the CommonJS build.
const graphql = createRequire(new URL('./test/package.json', import.meta.url)).resolve('graphql');

const postgres = { globalSetup: ['test/support/postgres-setup.ts'] };

// Workspace packages are tested from their sources: the SDK's exports name its built files
// for consumers, and the "@keygate/source" condition for the workspace (tsconfig does the same).
const conditions = ['@keygate/source', 'module', 'node', 'development|production']; // + Vite's server defaults

export default defineConfig({
  resolve: { alias: [{ find: /^graphql$/, replacement: graphql }], conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'core/src/**/*.test.ts',
            'services/src/**/*.test.ts',
            'schema/src/**/*.test.ts',
            'server/src/**/*.test.ts',
          ],
        },
      },
      {
        extends: true,
        // The dashboard's logic (errors, the session, pages), in a DOM of happy-dom's.
        test: { name: 'web', include: ['web/src/**/*.test.ts'], environment: 'happy-dom' },
      },
      {
        extends: true,
        test: { name: 'api:pglite', include: ['test/api/**/*.test.ts'], env: { KEYGATE_TEST_DB: 'pglite' } },
      },
      {
        extends: true,
        test: {
          name: 'api:postgres',
          include: ['test/api/**/*.test.ts'],
          env: { KEYGATE_TEST_DB: 'postgres' },
          ...postgres,
        },
      },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], ...postgres } },
    ],
  },
});
