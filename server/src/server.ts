// Starts a Keygate server: storage, migrations, auth, verification, HTTP.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import type { KeyVerifier } from '@keygate/core';
import { createAuthenticator } from './auth/authenticator.ts';
import { loadAuth } from './auth/secret.ts';
import { type Config, ConfigError } from './config.ts';
import { createDashboardHandler } from './dashboard.ts';
import { type Database, openDatabase } from './db/database.ts';
import { asksForGraphiql, createGraphiqlHandler } from './graphiql.ts';
import { createLeakHandler } from './leaks.ts';
import { createLogger, type Logger } from './logger.ts';
import { Metrics, metricsHandler } from './metrics.ts';
import { TrustedProxies } from './verification/client-ip.ts';
import { FailureLimiter } from './verification/failure-limiter.ts';
import { createForwardAuthHandler } from './verification/forward-auth.ts';
import { CHANNEL, type InvalidationBus, localInvalidation, PostgresInvalidation } from './verification/invalidation.ts';
import { KeyCache } from './verification/key-cache.ts';
import { createKeyLoader } from './verification/key-loader.ts';
import { createMeterStore, Meter } from './verification/meter.ts';
import { UsageRecorder } from './verification/usage.ts';
import { Verifier } from './verification/verifier.ts';
import { ExpiryWatcher } from './webhooks/expiry.ts';
import { usageExceededNotifier } from './webhooks/usage-events.ts';
import { WebhookWorker } from './webhooks/worker.ts';
import { createApp } from './yoga.ts';

export interface RunningServer {
  url: string;
  database: Database;
  http: Server;
  verifier: Verifier;
  usage: UsageRecorder;
  meter: Meter;
  webhooks: WebhookWorker;
  expiry: ExpiryWatcher;
  invalidation: InvalidationBus;
  /** Stops accepting, lets in-flight requests finish, writes last-used data, closes the database. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** An already open database (tests); it is left open on close. Otherwise config.storage is opened. */
  database?: Database;
  /** The clock of verification and metering (tests move it across refills and windows). */
  clock?: () => number;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger();
  const log = (line: string) => logger.info(line);
  // A taken port is said at once, not after the database was opened and migrated.
  await portFree(config.port, config.host);
  const auth = loadAuth(config, (path) => log(`created a development secret in ${path}`));
  const storage =
    config.storage.kind === 'postgres'
      ? { ...config.storage, onWaiting: (message: string) => logger.warn(message) }
      : config.storage;
  const database = options.database ?? (await openDatabase(storage));
  const closeDatabase = options.database ? async () => {} : () => database.close();
  try {
    const { applied, modified } = await database.migrate();
    if (applied.length > 0) log(`applied migrations: ${applied.join(', ')}`);
    for (const name of modified) log(`warning: migration ${name} was changed after it was applied`);
  } catch (error) {
    await closeDatabase();
    throw error;
  }
  const { prisma } = database;
  const usage = new UsageRecorder(prisma, {
    intervalMs: config.usageFlushMs,
    retentionDays: config.usageRetentionDays,
    onError: (error) => logger.error({ err: error }, 'usage flush failed'),
  });
  const limiter = new FailureLimiter({ ...config.failedVerifications, maxClients: 100_000 });
  const clock = options.clock ?? Date.now;
  const meter = new Meter(
    createMeterStore(prisma),
    usage,
    clock,
    (error) => logger.error({ err: error }, 'metering failed'),
    usageExceededNotifier(prisma, clock, (error) => logger.error({ err: error }, 'usage.exceeded event failed')),
  );
  const verifier = new Verifier(
    createKeyLoader(prisma, database.pool),
    new KeyCache(config.cache),
    usage,
    limiter,
    clock,
    meter,
  );
  // Metrics, when a scraper may read them: counted on the verification path without allocation.
  const metrics: Metrics | null = config.metricsToken
    ? new Metrics({
        cache: () => {
          const size = verifier.cacheSize();
          return { hits: verifier.stats.hits, misses: verifier.stats.misses, keys: size.keys, unknown: size.misses };
        },
        invalidations: () => ({ received: verifier.stats.invalidations, connected: invalidation.connected }),
        usageFlushes: () => ({ ok: usage.stats.flushes, failed: usage.stats.failures }),
        webhookAttempts: () => webhooks.attempts,
        meterStatements: () => meter.statements,
        pool: () => {
          const pool = database.pool;
          if (!pool) return null;
          return {
            total: pool.totalCount,
            idle: pool.idleCount,
            waiting: pool.waitingCount,
            max: pool.options.max ?? 10,
          };
        },
      })
    : null;
  const graphqlVerifier: KeyVerifier =
    metrics === null
      ? verifier
      : {
          verify(request, scope) {
            const started = performance.now();
            const outcome = verifier.verify(request, scope);
            if (!(outcome instanceof Promise)) {
              metrics.verification('graphql', outcome.code, started);
              return outcome;
            }
            return outcome.then((settled) => {
              metrics.verification('graphql', settled.code, started);
              return settled;
            });
          },
        };
  const invalidation =
    config.storage.kind === 'postgres'
      ? new PostgresInvalidation(
          config.storage.directUrl ?? config.storage.url,
          verifier,
          log,
          2000,
          (delay) => metrics?.invalidationReceived(delay),
          // Proven through the same pool that publishes changes.
          { publish: (payload) => prisma.$executeRawUnsafe('SELECT pg_notify($1, $2)', CHANNEL, payload) },
        )
      : localInvalidation(verifier, prisma);
  await invalidation.start();
  usage.start();
  meter.start();
  const webhooks = new WebhookWorker(prisma, config.webhooks, clock, (error) =>
    logger.error({ err: error }, 'webhook delivery failed'),
  );
  webhooks.start();
  const expiry = new ExpiryWatcher(prisma, config.expiry, clock, (error) =>
    logger.error({ err: error }, 'expiry warnings failed'),
  );
  expiry.start();

  const trustedProxies = new TrustedProxies(config.trustedProxies, (peer) =>
    logger.warn(
      { peer },
      `forwarding headers (X-Forwarded-For, X-Real-IP) from ${peer}, which is not in KEYGATE_TRUSTED_PROXIES, are ignored: ` +
        `every client behind it counts as ${peer}, so one client's wrong guesses lock out all of them, and IP rules see ${peer}. ` +
        `If ${peer} is your gateway, add it to KEYGATE_TRUSTED_PROXIES (said once per address)`,
    ),
  );
  const settings = {
    maxKeysPerApplication: config.maxKeysPerApplication,
    maxPageSize: config.maxPageSize,
    clock,
    webhooks: { allowInsecure: config.webhooks.allowInsecure, allowPrivate: config.webhooks.allowPrivate },
  };
  const app = createApp({
    logger,
    ...(auth.key.kind === 'secret' && auth.key.origin === 'development file'
      ? {
          signatureHint:
            `development mode: tokens are signed with the secret in ${config.dataDir}; ` +
            `get one for this server with KEYGATE_DATA_DIR=${config.dataDir} pnpm run token <merchant>`,
        }
      : {}),
    trustedProxies,
    prisma,
    authenticate: createAuthenticator(auth),
    settings,
    keyChanges: invalidation,
    verifier: graphqlVerifier,
    fastVerifier: config.graphqlFastPath ? graphqlVerifier : undefined,
    ...(metrics ? { metrics } : {}),
    hideSuggestions: config.production,
    introspection: config.introspection,
  });
  const forwardAuth = createForwardAuthHandler(
    verifier,
    trustedProxies,
    clock,
    metrics ? (code, started) => metrics.verification('forward_auth', code, started) : null,
    (header) =>
      logger.warn(
        { header },
        `/v1/auth refused a request carrying ${header}: requirements and cost are read from the auth URL only ` +
          '(e.g. /v1/auth?access=FULL_ACCESS&scopes=orders:write&cost=1), as a client could send any header. ' +
          'If your gateway sets this header, move it to the auth URL (said once per header)',
      ),
  );
  const serveMetrics = metrics && config.metricsToken ? metricsHandler(metrics, config.metricsToken) : null;
  const leaks = config.leaks ? createLeakHandler(config.leaks, prisma, invalidation, settings, log) : null;
  const dashboard = config.dashboard ? createDashboardHandler({ ...config.dashboard, auth, host: config.host }) : null;
  let publicUrl = '';
  const graphiql = createGraphiqlHandler(config.graphiql, () => publicUrl);
  let stopping = false;
  const ready = async (res: ServerResponse) => {
    let ok = !stopping && invalidation.connected;
    if (ok)
      ok = await prisma.$queryRaw`SELECT 1`.then(
        () => true,
        () => false,
      );
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ status: ok ? 'ready' : 'unavailable' }));
  };

  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    // The verification path first, with no allocation to find it.
    if (url === '/v1/auth' || url.startsWith('/v1/auth?')) return forwardAuth(req, res);
    const path = url.split('?', 1)[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      return res.end('{"status":"ok"}');
    }
    if (path === '/readyz') return void ready(res);
    if (path === '/metrics') {
      if (serveMetrics) return void serveMetrics(req, res);
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('metrics are off: set KEYGATE_METRICS_TOKEN to serve them to bearers of that token\n');
    }
    if (path === '/v1/leaks') {
      if (leaks)
        return void leaks(req, res).catch((error) => {
          logger.error({ err: error }, 'leak report failed');
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
          res.end('{"error":"the report could not be handled; send it again"}');
        });
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end('{"error":"leak reports are not configured (KEYGATE_LEAK_REPORT_KEYS)"}');
    }
    // Nothing else lives under /v1/: a gateway pointed at a mistyped auth URL gets a 404, never a 200.
    if (
      path !== undefined &&
      (path.length === 3 ? path.toLowerCase() === '/v1' : path.slice(0, 4).toLowerCase() === '/v1/')
    ) {
      res.writeHead(404, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      return res.end('{"error":"no such endpoint: the gateway endpoint is /v1/auth"}');
    }
    if (path === '/graphql' && asksForGraphiql(req)) return graphiql(req, res);
    if (dashboard && path !== undefined && path !== '/graphql' && dashboard(req, res, path)) return;
    return app(req, res);
  });
  // Gateways keep connections open; Node's default would drop idle ones under them at 5 s.
  http.keepAliveTimeout = 65_000;
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(config.port, config.host, resolve);
    });
  } catch (error) {
    await expiry.stop();
    await webhooks.stop();
    await meter.stop();
    await usage.stop();
    await invalidation.stop();
    await closeDatabase();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw portInUse(config);
    throw error;
  }
  const { port } = http.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  publicUrl = url;
  if (auth.key.kind === 'secret' && auth.key.origin === 'development file') {
    log(
      'development mode: tokens are signed with a random secret kept in the data directory; get one with `pnpm run token <merchant>`',
    );
  }
  const where = config.storage.kind === 'pglite' ? `embedded database in ${config.storage.dataDir}` : 'PostgreSQL';
  log(`Keygate (${where}) listening on ${url}/graphql`);
  if (dashboard) log(`merchant dashboard at ${url}/`);
  return {
    url,
    database,
    http,
    verifier,
    usage,
    meter,
    webhooks,
    expiry,
    invalidation,
    close: async () => {
      stopping = true;
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeIdleConnections();
        // Connections still busy after a grace period are cut.
        setTimeout(() => http.closeAllConnections(), 10_000).unref();
      });
      // Attempts under way finish (and are recorded); then unused reservations go back to the
      // pool, and what was spent is written.
      await expiry.stop();
      await webhooks.stop();
      await meter.stop();
      await usage.stop();
      await invalidation.stop();
      await closeDatabase();
    },
  };
}

function portInUse(config: Config): ConfigError {
  return new ConfigError(`port ${config.port} on ${config.host} is already in use; set PORT to another one`);
}

/** Fails when the port is taken (checked again, for good, when the server listens). */
async function portFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? portInUse({ port, host } as Config) : error),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
