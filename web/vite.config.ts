// The dashboard's build: web/dist, served by the Keygate server at /. The SDK is taken
// from its sources (the workspace's "@keygate/source" condition), like everywhere else.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  resolve: { conditions: ['@keygate/source', 'module', 'browser', 'development|production'] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No source maps shipped: the repository is the source.
    sourcemap: false,
    target: 'es2022',
    reportCompressedSize: false,
  },
  // `pnpm --filter @keygate/web dev`: the dashboard with hot reload against a Keygate on :4000.
  server: {
    proxy: {
      '/graphql': 'http://127.0.0.1:4000',
      '/dashboard': 'http://127.0.0.1:4000',
      '/v1': 'http://127.0.0.1:4000',
    },
  },
});
