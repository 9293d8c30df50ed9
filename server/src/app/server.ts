// Starts a Keygate server: the composition root. Storage and its migrations, the verification
// path, the workers and the HTTP routes are made here and nowhere else, started in order and
// stopped in the reverse order by one Lifecycle.
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import type { KeyVerifier } from '@keygate/core';
import { FailureLimiter, KeyCache, Meter, Verifier } from '@keygate/core/engine';
import type { SchemaSettings } from '@keygate/services';
import { createAuthenticator } from '../auth/authenticator.ts';
import { loadAuth } from '../auth/secret.ts';
import { type Config, ConfigError } from '../config.ts';
import { type Database, openDatabase } from '../db/database.ts';
import { ReplicaSet } from '../db/replicas.ts';
import { createApp } from '../graphql/yoga.ts';
import { createDashboardHandler } from '../http/dashboard.ts';
import { createGraphiqlHandler } from '../http/graphiql.ts';
import { createLeakHandler } from '../http/leaks.ts';
import { createRouter } from '../http/routes.ts';
import { createVerifierApi } from '../http/verifier-api.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { Metrics, metricsHandler } from '../observability/metrics.ts';
import { TrustedProxies } from '../verification/client-ip.ts';
import { FeedHub } from '../verification/feed.ts';
import { createForwardAuthHandler } from '../verification/forward-auth.ts';
import { ImportPrefixes, loadImportPrefixes } from '../verification/import-prefixes.ts';
import {
  CHANNEL,
  type InvalidationBus,
  localInvalidation,
  PostgresInvalidation,
} from '../verification/invalidation.ts';
import { createKeyLoader, createRecordLoader } from '../verification/key-loader.ts';
import { createMeterStore } from '../verification/meter-store.ts';
import { UsageRecorder, writeUsage } from '../verification/usage.ts';
import { AnomalyWatcher } from '../webhooks/anomalies.ts';
import { ExpiryWatcher } from '../webhooks/expiry.ts';
import { usageExceededNotifier } from '../webhooks/usage-events.ts';
import { WebhookWorker } from '../webhooks/worker.ts';
import { Lifecycle } from './lifecycle.ts';
import { warnings } from './warnings.ts';

export interface RunningServer {
  url: string;
  database: Database;
  http: Server;
  verifier: Verifier;
  usage: UsageRecorder;
  meter: Meter;
  webhooks: WebhookWorker;
  expiry: ExpiryWatcher;
  anomalies: AnomalyWatcher;
  invalidation: InvalidationBus;
  /** The change feed of embedded verifiers connected to this instance. */
  feed: FeedHub;
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
  const fail = (what: string) => (error: unknown) => logger.error({ err: error }, what);
  const lifecycle = new Lifecycle((part, error) => logger.error({ err: error }, `stopping ${part} failed`));
  // A taken port is said at once, not after the database was opened and migrated.
  await portFree(config.port, config.host);
  const auth = loadAuth(config, (path) => log(`created a development secret in ${path}`));
  const clock = options.clock ?? Date.now;

  const database =
    options.database ??
    (await openDatabase(
      config.storage.kind === 'postgres'
        ? { ...config.storage, onWaiting: (m: string) => logger.warn(m) }
        : config.storage,
    ));
  if (!options.database) lifecycle.started('the database', () => database.close());
  const { prisma } = database;
  try {
    const { applied, modified } = await database.migrate();
    if (applied.length > 0) log(`applied migrations: ${applied.join(', ')}`);
    for (const name of modified) log(`warning: migration ${name} was changed after it was applied`);

    // The verification path.
    let invalidation: InvalidationBus | undefined;
    // Read replicas for cache misses, fenced by the key changes this instance hears.
    const replicas =
      config.replicas && database.pool
        ? new ReplicaSet(database.pool, {
            urls: config.replicas.urls,
            pollMs: config.replicas.pollMs,
            poolSize: config.storage.kind === 'postgres' ? (config.storage.poolSize ?? 10) : 10,
            log: (line) => logger.warn(line),
            hearing: () => invalidation?.connected ?? false,
          })
        : null;
    const usage = new UsageRecorder(prisma, {
      intervalMs: config.usageFlushMs,
      retentionDays: config.usageRetentionDays,
      onError: fail('usage flush failed'),
    });
    const meterStore = createMeterStore(prisma);
    const meter = new Meter(
      meterStore,
      usage,
      clock,
      fail('metering failed'),
      usageExceededNotifier(prisma, clock, fail('usage.exceeded event failed')),
    );
    const limiter = new FailureLimiter({ ...config.failedVerifications, maxClients: 100_000 });
    const verifier = new Verifier(
      createKeyLoader(prisma, database.pool, replicas),
      new KeyCache(config.cache),
      usage,
      limiter,
      clock,
      meter,
    );
    const feed = new FeedHub({ ...config.verifierFeed, maxSubscribers: 1000, replay: 1024 });
    const webhooks = new WebhookWorker(prisma, config.webhooks, clock, fail('webhook delivery failed'));
    const metrics = config.metricsToken
      ? new Metrics({
          cache: () => {
            const size = verifier.cacheSize();
            return { hits: verifier.stats.hits, misses: verifier.stats.misses, keys: size.keys, unknown: size.misses };
          },
          invalidations: () => ({
            received: verifier.stats.invalidations,
            connected: invalidation?.connected ?? false,
          }),
          usageFlushes: () => ({ ok: usage.stats.flushes, failed: usage.stats.failures }),
          webhookAttempts: () => webhooks.attempts,
          meterStatements: () => meter.statements,
          replicas: () => (replicas ? { replicas: replicas.status(), reads: replicas.reads } : null),
          pool: () => {
            const pool = database.pool;
            return pool
              ? {
                  total: pool.totalCount,
                  idle: pool.idleCount,
                  waiting: pool.waitingCount,
                  max: pool.options.max ?? 10,
                }
              : null;
          },
        })
      : null;
    invalidation =
      config.storage.kind === 'postgres'
        ? new PostgresInvalidation(
            config.storage.directUrl ?? config.storage.url,
            verifier,
            log,
            2000,
            (delay) => metrics?.invalidationReceived(delay),
            // Proven through the same pool that publishes changes.
            { publish: (payload) => prisma.$executeRawUnsafe('SELECT pg_notify($1, $2)', CHANNEL, payload) },
            feed,
          )
        : localInvalidation(verifier, prisma, feed);
    const changes = invalidation;
    if (replicas) {
      if (changes instanceof PostgresInvalidation) changes.onChange = () => replicas.fence();
      await replicas.start();
      lifecycle.started('read replicas', () => replicas.stop());
    }
    await changes.start();
    lifecycle.started('the change feed', () => changes.stop());
    // Prefixes of imported keys: announced with each change, and read again now and then in case a
    // change was missed while the change feed was down.
    const prefixes = new ImportPrefixes(prisma, verifier, fail('reading import prefixes failed'));
    await prefixes.start();
    lifecycle.started('import prefixes', () => prefixes.stop());
    feed.start();
    lifecycle.started("embedded verifiers' feed", () => feed.stop());
    // Today's and the next days' partitions of the hourly tables exist before the first flush.
    await usage.partitions(clock()).catch(fail('creating the day partitions of usage failed (retried hourly)'));
    usage.start();
    lifecycle.started('usage recording', () => usage.stop()); // writes what was recorded
    meter.start();
    lifecycle.started('metering', () => meter.stop()); // gives back what it holds, before usage is written
    webhooks.start();
    lifecycle.started('webhook delivery', () => webhooks.stop()); // attempts under way finish, recorded
    const expiry = new ExpiryWatcher(prisma, config.expiry, clock, fail('expiry warnings failed'));
    expiry.start();
    lifecycle.started('expiry warnings', () => expiry.stop());
    const anomalies = new AnomalyWatcher(
      prisma,
      changes,
      { ...config.anomalies, windowDays: config.observationWindowDays },
      clock,
      fail('anomaly detection failed'),
    );
    anomalies.start();
    lifecycle.started('anomaly detection', () => anomalies.stop());

    // HTTP.
    const trustedProxies = new TrustedProxies(config.trustedProxies, (peer) =>
      logger.warn({ peer }, warnings.untrustedForwarder(peer)),
    );
    const settings: SchemaSettings = {
      maxKeysPerApplication: config.maxKeysPerApplication,
      maxPageSize: config.maxPageSize,
      clock,
      webhooks: { allowInsecure: config.webhooks.allowInsecure, allowPrivate: config.webhooks.allowPrivate },
      defaultKeyPolicy: config.defaultKeyPolicy,
      observationWindowDays: config.observationWindowDays,
    };
    const graphqlVerifier: KeyVerifier = metrics ? metrics.measured('graphql', verifier) : verifier;
    const developmentSecret = auth.key.kind === 'secret' && auth.key.origin === 'development file';
    const graphql = createApp({
      logger,
      ...(developmentSecret ? { signatureHint: warnings.developmentSignature(config.dataDir) } : {}),
      trustedProxies,
      prisma,
      authenticate: createAuthenticator(auth),
      settings,
      keyChanges: changes,
      verifier: graphqlVerifier,
      fastVerifier: config.graphqlFastPath ? graphqlVerifier : undefined,
      ...(metrics ? { metrics } : {}),
      hideSuggestions: config.production,
      introspection: config.introspection,
    });
    const dashboard = config.dashboard
      ? createDashboardHandler({ ...config.dashboard, auth, host: config.host })
      : null;
    let url = '';
    let stopping = false;
    const http = createServer(
      createRouter({
        forwardAuth: createForwardAuthHandler(
          verifier,
          trustedProxies,
          clock,
          metrics ? (code, started) => metrics.verification('forward_auth', code, started) : null,
          (header) => logger.warn({ header }, warnings.retiredRequirementHeader(header)),
        ),
        ready: async () => {
          const ok =
            !stopping &&
            changes.connected &&
            (await prisma.$queryRaw`SELECT 1`.then(
              () => true,
              () => false,
            ));
          // Anyone may ask /readyz: replicas are told by state, never by address (that is in /metrics).
          const states = replicas?.status().map(({ up, fresh, lagBytes, lagSeconds }) => ({
            up,
            fresh,
            lagBytes,
            lagSeconds,
          }));
          if (!ok) return { status: 'unavailable', ...(states ? { replicas: states } : {}) };
          // A replica down costs the primary its misses, not the service: degraded, still 200.
          if (!replicas || !states) return { status: 'ready' };
          return { status: replicas.upCount < replicas.count ? 'degraded' : 'ready', replicas: states };
        },
        metrics: metrics && config.metricsToken ? metricsHandler(metrics, config.metricsToken) : null,
        leaks: config.leaks ? createLeakHandler(config.leaks, prisma, changes, settings, log) : null,
        onLeakError: fail('leak report failed'),
        onVerifierError: fail('verifier endpoint failed'),
        verifierApi: createVerifierApi({
          authenticate: createAuthenticator(auth),
          records: createRecordLoader(prisma, database.pool, replicas),
          importPrefixes: () => loadImportPrefixes(prisma),
          feed,
          feedConnected: () => changes.connected,
          meterStore,
          writeUsage: (report) => writeUsage(prisma, report),
          clock,
          lookupsPerSecond: config.verifierFeed.lookupsPerSecond,
          onError: fail('verifier endpoint failed'),
        }),
        graphiql: createGraphiqlHandler(config.graphiql, () => url),
        dashboard,
        graphql,
      }),
    );
    // Gateways keep connections open; Node's default would drop idle ones under them at 5 s.
    http.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      http.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' ? portInUse(config.port, config.host) : error),
      );
      http.listen(config.port, config.host, resolve);
    });
    lifecycle.started('HTTP', () => {
      stopping = true;
      // Verifiers' feeds are open for good: they end first, and their verifiers reconnect elsewhere.
      feed.stop();
      return new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeIdleConnections();
        // Connections still busy after a grace period are cut.
        setTimeout(() => http.closeAllConnections(), 10_000).unref();
      });
    });

    const { port } = http.address() as AddressInfo;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    if (developmentSecret) log(warnings.developmentMode);
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
      anomalies,
      invalidation: changes,
      feed,
      close: () => lifecycle.stop(),
    };
  } catch (error) {
    await lifecycle.stop();
    throw error;
  }
}

function portInUse(port: number, host: string): ConfigError {
  return new ConfigError(`port ${port} on ${host} is already in use; set PORT to another one`);
}

/** Fails when the port is taken (checked again, for good, when the server listens). */
async function portFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? portInUse(port, host) : error),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
