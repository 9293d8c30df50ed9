// Starts a Keygate server: storage, migrations, auth, HTTP.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthenticator, loadAuth } from './auth.ts';
import { type Config, ConfigError } from './config.ts';
import { type Database, openDatabase } from './db/database.ts';
import { createApp } from './yoga.ts';

export interface RunningServer {
  url: string;
  database: Database;
  http: Server;
  close(): Promise<void>;
}

export async function startServer(config: Config, log: (line: string) => void = console.log): Promise<RunningServer> {
  const auth = loadAuth(config);
  const database = await openDatabase(config.storage);
  try {
    const { applied, modified } = await database.migrate();
    if (applied.length > 0) log(`applied migrations: ${applied.join(', ')}`);
    for (const name of modified) log(`warning: migration ${name} was changed after it was applied`);
  } catch (error) {
    await database.close();
    throw error;
  }
  const app = createApp({
    prisma: database.prisma,
    authenticate: createAuthenticator(auth),
    settings: { maxKeysPerApplication: config.maxKeysPerApplication, maxPageSize: config.maxPageSize },
  });
  const http = createServer(app);
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(config.port, config.host, resolve);
    });
  } catch (error) {
    await database.close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConfigError(`port ${config.port} on ${config.host} is already in use; set PORT to another one`);
    }
    throw error;
  }
  const { port } = http.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  if (auth.key.kind === 'secret' && auth.key.origin === 'development file') {
    log(
      'development mode: tokens are signed with a random secret kept in the data directory; get one with `pnpm run token <merchant>`',
    );
  }
  log(
    `Keygate ${database.kind === 'pglite' ? `(embedded database in ${config.storage.kind === 'pglite' ? config.storage.dataDir : ''})` : '(PostgreSQL)'} listening on ${url}/graphql`,
  );
  return {
    url,
    database,
    http,
    close: async () => {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeIdleConnections();
      });
      await database.close();
    },
  };
}
