// Keygate's configuration, read from the environment once at start-up.
// Every variable is declared once, in `variables` below: its default, its bounds
// and what it means. loadConfig reads through that table, and
// docs/configuration.md is printed from it (`pnpm generate`; a drift check fails
// when the page is stale). A bad value stops start-up with a message naming it.
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type KeyPolicy, parseCidr } from '@keygate/core';
import type { AnomalyThresholds } from '@keygate/services/anomalies';
import { keyPolicyRule } from '@keygate/services/validation';
import type { StorageOptions } from './db/database.ts';
import { StartupError } from './startup-error.ts';

export interface AuthConfig {
  /** HS256 shared secret (raw bytes), or the URL of a JWKS for asymmetric keys. */
  key: { kind: 'secret'; secret: Uint8Array; origin: 'environment' | 'development file' } | { kind: 'jwks'; url: URL };
  issuer?: string;
  audience?: string;
  /** JWT claim that carries the merchant id. */
  merchantClaim: string;
}

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  storage: StorageOptions;
  /** PostgreSQL streaming replicas that verification's cache misses may read (see db/replicas.ts). */
  replicas: { urls: string[]; pollMs: number } | null;
  /** Absent until resolved by loadAuth (the development secret lives in the data directory). */
  auth: Omit<AuthConfig, 'key'> & { secret?: string; jwksUrl?: string };
  maxKeysPerApplication: number;
  maxPageSize: number;
  /** Peers whose X-Forwarded-For / X-Real-IP are believed (canonical CIDRs). */
  trustedProxies: string[];
  cache: { maxKeys: number; maxMisses: number; ttlMs: number };
  /** How often last-used times, usage counts and refusals are written. */
  usageFlushMs: number;
  /** The endpoints and change feed for embedded verifiers. */
  verifierFeed: { ackTimeoutMs: number; heartbeatMs: number; lookupsPerSecond: number };
  /** How long hourly usage counts are kept. */
  usageRetentionDays: number;
  /** Days of observed use suggestions and anomaly detection read. */
  observationWindowDays: number;
  /** Anomaly detection: how often, and what counts as one. */
  anomalies: Omit<AnomalyThresholds, 'windowDays'> & { intervalMs: number };
  /** Serve verifyKey for service tokens through the compiled fast path (KEYGATE_GRAPHQL_FAST_PATH=0 turns it off). */
  graphqlFastPath: boolean;
  /** Schema introspection (and so GraphiQL's documentation); KEYGATE_INTROSPECTION=0 turns it off. */
  introspection: boolean;
  /** GraphiQL at GET /graphql: on in development, off in production unless KEYGATE_GRAPHIQL=1. */
  graphiql: boolean;
  /** Webhook delivery: what targets are allowed, how often to look for due deliveries, how long to retry. */
  webhooks: {
    allowInsecure: boolean;
    allowPrivate: boolean;
    pollMs: number;
    maxInFlight: number;
    perEndpoint: number;
    perMerchant: number;
    timeoutMs: number;
    retryBaseMs: number;
    retryForMs: number;
    disableAfterMs: number;
  };
  /** Bearer token that may read GET /metrics; metrics are off without it. */
  metricsToken: string | null;
  /** The key policy of merchants that set none (KEYGATE_DEFAULT_KEY_POLICY). */
  defaultKeyPolicy: KeyPolicy | null;
  /** Expiry warnings: seconds before an expiry at which to warn, and how often to look. */
  expiry: { warnings: number[]; intervalMs: number };
  /** Leaked-key reports (POST /v1/leaks): where the signers' public keys are, and what to do. */
  leaks: { keys: string; action: 'revoke' | 'flag' } | null;
  /** Failed verifications (wrong guesses) allowed per client address and window; 0 turns the limit off. */
  failedVerifications: { burst: number; windowMs: number };
  /** The merchant dashboard at /: where its build is, and who may embed it; null when turned off. */
  dashboard: {
    dir: string;
    embedOrigins: string[];
    /** What the integration snippets on a key's page show: your API's address and its key header. */
    integration: { apiUrl: string; keyHeader: string };
  } | null;
  production: boolean;
}

/** One environment variable: where the reference lists it, its default, and what it means. */
export interface Variable {
  section: Section;
  /** The default as the reference shows it (for whole numbers it is `fallback`). */
  default?: string;
  /** Whole numbers: the default and the accepted range, enforced at start-up. */
  fallback?: number;
  min?: number;
  max?: number;
  meaning: string;
}

export const sections = [
  'Serving',
  'Storage',
  'Tokens',
  'Keys and pages',
  'Verification',
  'Webhooks and events',
  'Anomalies',
  'Dashboard and GraphiQL',
  'Observability',
] as const;
export type Section = (typeof sections)[number];

/** Every variable Keygate reads. The reference page is printed from this table, in this order. */
export const variables = {
  PORT: {
    section: 'Serving',
    fallback: 4000,
    min: 0,
    max: 65535,
    meaning: 'The port to listen on (`0`: any free one, logged)',
  },
  HOST: {
    section: 'Serving',
    default: '`127.0.0.1`',
    meaning: 'The address to listen on (`0.0.0.0`: every interface)',
  },
  NODE_ENV: {
    section: 'Serving',
    meaning: '`production` refuses the development secret, hides field suggestions and turns GraphiQL off',
  },
  LOG_LEVEL: {
    section: 'Serving',
    default: '`info`',
    meaning: 'pino level: `debug` adds Yoga’s own messages, `warn` keeps only problems',
  },

  KEYGATE_DATA_DIR: {
    section: 'Storage',
    default: '`./.keygate`',
    meaning: 'The embedded database and the development secret (owner-only files), relative to where the command ran',
  },
  KEYGATE_PGLITE_DIR: { section: 'Storage', default: '`<data dir>/pglite`', meaning: 'The embedded database alone' },
  DATABASE_URL: {
    section: 'Storage',
    meaning: '`postgres://…`: use this PostgreSQL server instead of the embedded database',
  },
  KEYGATE_DB_POOL_SIZE: {
    section: 'Storage',
    fallback: 10,
    min: 1,
    max: 1000,
    meaning: 'Connections per instance (PostgreSQL)',
  },
  KEYGATE_LISTEN_DATABASE_URL: {
    section: 'Storage',
    default: '`DATABASE_URL`',
    meaning:
      'A direct (session) connection for what a transaction-pooling proxy cannot carry: change notifications (`LISTEN`) and the migrations’ advisory lock. Set it when `DATABASE_URL` points at PgBouncer',
  },
  KEYGATE_REPLICA_DATABASE_URLS: {
    section: 'Storage',
    meaning:
      'Streaming replicas of `DATABASE_URL`’s database, comma-separated. Cache misses of verification (`/v1/auth`, `verifyKey`, embedded verifiers) read a replica only once it has replayed the latest key change this instance heard of, else the primary; everything else reads and writes the primary. Each replica gets `KEYGATE_DB_POOL_SIZE` connections',
  },
  KEYGATE_REPLICA_POLL_MS: {
    section: 'Storage',
    fallback: 100,
    min: 5,
    max: 60000,
    meaning:
      'How often each replica’s replay position is read (while one is behind the latest key change: every 10 ms). Also the lag `/metrics` and `/readyz` report',
  },
  KEYGATE_DB_CONNECT_TIMEOUT_SECONDS: {
    section: 'Storage',
    fallback: 30,
    min: 0,
    max: 3600,
    meaning:
      'How long start-up waits for PostgreSQL (retrying with backoff) before it exits 1 with one line naming host, port, database and cause',
  },

  KEYGATE_JWT_SECRET: {
    section: 'Tokens',
    meaning:
      'HS256 secret, at least 32 bytes. Without it (or `KEYGATE_JWKS_URL`) Keygate is in development mode: tokens are signed with a random secret created in the data directory',
  },
  KEYGATE_JWKS_URL: { section: 'Tokens', meaning: 'A JWKS endpoint for asymmetric tokens (instead of the secret)' },
  KEYGATE_JWT_ISSUER: { section: 'Tokens', meaning: 'The `iss` every token must carry, when set' },
  KEYGATE_JWT_AUDIENCE: { section: 'Tokens', meaning: 'The `aud` every token must carry, when set' },
  KEYGATE_MERCHANT_CLAIM: { section: 'Tokens', default: '`merchant_id`', meaning: 'The claim holding the merchant id' },

  KEYGATE_MAX_KEYS_PER_APPLICATION: {
    section: 'Keys and pages',
    fallback: 100,
    min: 1,
    max: 100_000,
    meaning: 'Most non-revoked keys per application',
  },
  KEYGATE_DEFAULT_KEY_POLICY: {
    section: 'Keys and pages',
    meaning:
      'The key policy (JSON, as `setPolicy` takes it) for merchants that have not set their own, e.g. `{"maxLifetimeDays":{"live":90},"fullAccessRequiresIpRules":true}`; none without it',
  },
  KEYGATE_MAX_PAGE_SIZE: {
    section: 'Keys and pages',
    fallback: 100,
    min: 1,
    max: 1000,
    meaning: 'Largest `first` / `last`',
  },

  KEYGATE_TRUSTED_PROXIES: {
    section: 'Verification',
    meaning:
      'CIDRs (comma-separated) whose `X-Forwarded-For` / `X-Real-IP` are believed: your gateway’s address, so IP rules and the failure limit see each client’s own',
  },
  KEYGATE_CACHE_KEYS: {
    section: 'Verification',
    fallback: 100_000,
    min: 1,
    max: 10_000_000,
    meaning: 'Verification cache: how many known keys it holds',
  },
  KEYGATE_CACHE_MISSES: {
    section: 'Verification',
    fallback: 10_000,
    min: 1,
    max: 10_000_000,
    meaning: 'Verification cache: how many unknown keys it remembers',
  },
  KEYGATE_CACHE_TTL_SECONDS: {
    section: 'Verification',
    fallback: 300,
    min: 1,
    max: 86_400,
    meaning: 'Longest a cached key is used without a reload (a safety net: changes invalidate at once)',
  },
  KEYGATE_USAGE_FLUSH_MS: {
    section: 'Verification',
    fallback: 5000,
    min: 10,
    max: 3_600_000,
    meaning: 'How often last-used times, usage counts, refusals and spent credits are written (and always at shutdown)',
  },
  KEYGATE_VERIFIER_ACK_MS: {
    section: 'Verification',
    fallback: 1000,
    min: 10,
    max: 60_000,
    meaning:
      'How long a key change waits for embedded verifiers (@keygate/verifier) to acknowledge it; one that does not is told to drop its cache',
  },
  KEYGATE_VERIFIER_HEARTBEAT_MS: {
    section: 'Verification',
    fallback: 5000,
    min: 50,
    max: 60_000,
    meaning: 'Heartbeat of the change feed to embedded verifiers; they stop trusting a feed silent for three of them',
  },
  KEYGATE_VERIFIER_LOOKUPS_PER_SECOND: {
    section: 'Verification',
    fallback: 5000,
    min: 1,
    max: 1_000_000,
    meaning:
      'Key lookups and metering reservations per second per service token at /v1/verifier (bursts of twice that)',
  },
  KEYGATE_OBSERVATION_WINDOW_DAYS: {
    section: 'Verification',
    fallback: 30,
    min: 1,
    max: 365,
    meaning:
      'The window of observed use: least-privilege suggestions read it, and anomaly detection compares an hour with it (keep KEYGATE_USAGE_RETENTION_DAYS at least as long)',
  },
  KEYGATE_ANOMALY_SCAN_SECONDS: {
    section: 'Anomalies',
    fallback: 60,
    min: 1,
    max: 3600,
    meaning: 'How often each instance looks for anomalies in the current and the previous hour of use',
  },
  KEYGATE_ANOMALY_VOLUME_FACTOR: {
    section: 'Anomalies',
    fallback: 10,
    min: 2,
    max: 1000,
    meaning:
      'VOLUME_SPIKE: verifications in an hour at least this many times the key’s hourly norm (over the window since its first use)…',
  },
  KEYGATE_ANOMALY_MIN_VOLUME: {
    section: 'Anomalies',
    fallback: 100,
    min: 1,
    max: 100_000_000,
    meaning: '…and at least this many',
  },
  KEYGATE_ANOMALY_NETWORKS_FACTOR: {
    section: 'Anomalies',
    fallback: 5,
    min: 2,
    max: 1000,
    meaning: 'MANY_NETWORKS: distinct client networks (/24, /48) in an hour at least this many times the key’s norm…',
  },
  KEYGATE_ANOMALY_MIN_NETWORKS: {
    section: 'Anomalies',
    fallback: 10,
    min: 2,
    max: 1000,
    meaning: '…and at least this many',
  },
  KEYGATE_ANOMALY_REFUSALS_FACTOR: {
    section: 'Anomalies',
    fallback: 10,
    min: 2,
    max: 1000,
    meaning: 'REFUSAL_BURST: refusals in an hour at least this many times the key’s hourly norm of refusals…',
  },
  KEYGATE_ANOMALY_MIN_REFUSALS: {
    section: 'Anomalies',
    fallback: 20,
    min: 1,
    max: 100_000_000,
    meaning:
      '…and at least this many. NEW_NETWORK has no threshold: a valid use from a network not seen in the window. No anomaly is found in a key’s first day of traffic',
  },
  KEYGATE_USAGE_RETENTION_DAYS: {
    section: 'Verification',
    fallback: 90,
    min: 1,
    max: 3650,
    meaning:
      'How long hourly usage counts and observations are kept: a UTC day is dropped whole once all of it is older (so kept at most a day longer)',
  },
  KEYGATE_FAILED_VERIFICATIONS: {
    section: 'Verification',
    fallback: 30,
    min: 0,
    max: 1_000_000,
    meaning: 'Wrong guesses allowed per client address and window (`0`: no limit)',
  },
  KEYGATE_FAILED_VERIFICATIONS_WINDOW_SECONDS: {
    section: 'Verification',
    fallback: 60,
    min: 1,
    max: 86_400,
    meaning: 'The window of `KEYGATE_FAILED_VERIFICATIONS`',
  },
  KEYGATE_GRAPHQL_FAST_PATH: {
    section: 'Verification',
    default: '`1`',
    meaning: '`0` sends service `verifyKey` calls through graphql-js execution too',
  },

  KEYGATE_WEBHOOKS_ALLOW_INSECURE: {
    section: 'Webhooks and events',
    meaning: '`1`: webhook URLs may be plain `http://` (development)',
  },
  KEYGATE_WEBHOOKS_ALLOW_PRIVATE: {
    section: 'Webhooks and events',
    meaning: '`1`: webhook URLs may point at loopback, private and link-local addresses (development, tests)',
  },
  KEYGATE_WEBHOOK_POLL_MS: {
    section: 'Webhooks and events',
    fallback: 500,
    min: 10,
    max: 60_000,
    meaning: 'How often each instance looks for due webhook deliveries',
  },
  KEYGATE_WEBHOOK_TIMEOUT_SECONDS: {
    section: 'Webhooks and events',
    fallback: 10,
    min: 1,
    max: 30,
    meaning: 'Deadline of one delivery attempt, from connecting to the last byte kept',
  },
  KEYGATE_WEBHOOK_RETRY_BASE_MS: {
    section: 'Webhooks and events',
    fallback: 5000,
    min: 1,
    max: 3_600_000,
    meaning: 'The first retry’s delay; each next one doubles (up to an hour), ±20 %',
  },
  KEYGATE_WEBHOOK_RETRY_HOURS: {
    section: 'Webhooks and events',
    fallback: 24,
    min: 1,
    max: 720,
    meaning: 'How long after its event a delivery is attempted before it is `FAILED`',
  },
  KEYGATE_WEBHOOK_DISABLE_AFTER_HOURS: {
    section: 'Webhooks and events',
    fallback: 72,
    min: 1,
    max: 8760,
    meaning: 'An endpoint failing this long without a success is disabled (with the reason)',
  },
  KEYGATE_EXPIRY_WARNING_HOURS: {
    section: 'Webhooks and events',
    default: '`168,24`',
    meaning: 'When to send `key.expiring` before a key’s expiry (whole hours, 1 to 8760, comma-separated)',
  },
  KEYGATE_EXPIRY_SCAN_SECONDS: {
    section: 'Webhooks and events',
    fallback: 60,
    min: 1,
    max: 86_400,
    meaning: 'How often each instance looks for keys to warn about',
  },
  KEYGATE_LEAK_REPORT_KEYS: {
    section: 'Webhooks and events',
    meaning: 'URL or file of the secret scanner’s ECDSA public keys; enables `POST /v1/leaks`',
  },
  KEYGATE_LEAK_ACTION: {
    section: 'Webhooks and events',
    default: '`revoke`',
    meaning: 'What a confirmed leak report does: `revoke`, or `flag` (report only)',
  },

  KEYGATE_DASHBOARD: {
    section: 'Dashboard and GraphiQL',
    default: '`1`',
    meaning: '`0` serves no dashboard at `/` (the API only)',
  },
  KEYGATE_DASHBOARD_DIR: {
    section: 'Dashboard and GraphiQL',
    default: '`web/dist`',
    meaning: 'Where the built dashboard is',
  },
  KEYGATE_DASHBOARD_EMBED_ORIGINS: {
    section: 'Dashboard and GraphiQL',
    meaning:
      'Origins (comma-separated, e.g. `https://app.example.com`) whose pages may frame the dashboard and hand it a token by `postMessage`',
  },
  KEYGATE_DASHBOARD_API_URL: {
    section: 'Dashboard and GraphiQL',
    default: '`https://api.example.com`',
    meaning:
      "Your API's address, as the integration snippets on a key's page call it (e.g. `https://api.shop.example/v1/orders`)",
  },
  KEYGATE_DASHBOARD_KEY_HEADER: {
    section: 'Dashboard and GraphiQL',
    default: '`Authorization`',
    meaning:
      'The header your API reads keys from, for the snippets: `Authorization` (as `Bearer <key>`) or a header name such as `X-Api-Key`',
  },
  KEYGATE_GRAPHIQL: {
    section: 'Dashboard and GraphiQL',
    default: '`1`; `0` in production',
    meaning: 'GraphiQL at `/graphql` for browsers (gzipped, under a CSP); with `NODE_ENV=production` only when `1`',
  },
  KEYGATE_INTROSPECTION: {
    section: 'Dashboard and GraphiQL',
    default: '`1`',
    meaning: '`0` refuses schema introspection (GraphiQL then has no documentation)',
  },

  KEYGATE_METRICS_TOKEN: {
    section: 'Observability',
    meaning: 'Serves `GET /metrics` (Prometheus) to bearers of this token, 16 characters or more; off without it',
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    section: 'Observability',
    meaning:
      'Turns tracing on, exporting OTLP as JSON over HTTP (a collector’s port 4318) to `<endpoint>/v1/traces`. `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_EXPORTER_OTLP_TIMEOUT` apply as the specification says',
  },
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: { section: 'Observability', meaning: 'The same, with the traces URL as given' },
  OTEL_EXPORTER_OTLP_PROTOCOL: {
    section: 'Observability',
    default: '`http/json`',
    meaning: 'Only `http/json`; `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` is read too',
  },
  OTEL_TRACES_EXPORTER: {
    section: 'Observability',
    meaning: '`otlp`, `console` (spans on stdout) or both, comma-separated; `none` keeps tracing off',
  },
  OTEL_SERVICE_NAME: {
    section: 'Observability',
    default: '`keygate`',
    meaning: 'The resource’s `service.name`; `OTEL_RESOURCE_ATTRIBUTES` adds more',
  },
  OTEL_TRACES_SAMPLER: {
    section: 'Observability',
    default: '`parentbased_always_on`',
    meaning:
      '`always_on`, `always_off`, `traceidratio`, `parentbased_traceidratio`, `parentbased_always_on`, `parentbased_always_off`; `OTEL_TRACES_SAMPLER_ARG` is the ratio, 0 to 1',
  },
  OTEL_SDK_DISABLED: { section: 'Observability', meaning: '`true` keeps tracing off whatever else is set' },
} as const satisfies Record<string, Variable>;

export type VariableName = keyof typeof variables;

/** Further variables read alongside one listed above, named in its meaning. */
export const companionVariables = [
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TIMEOUT',
  'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_TRACES_SAMPLER_ARG',
] as const;

export class ConfigError extends StartupError {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  // pnpm runs scripts inside the package folder; relative paths mean the folder the user ran from.
  const baseDir = env.INIT_CWD ?? process.cwd();
  const dataDir = absolute(env.KEYGATE_DATA_DIR ?? '.keygate', baseDir);
  const databaseUrl = env.DATABASE_URL?.trim();
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const directUrl = env.KEYGATE_LISTEN_DATABASE_URL?.trim() || undefined;
  if (directUrl && !/^postgres(ql)?:\/\//.test(directUrl)) {
    throw new ConfigError('KEYGATE_LISTEN_DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  if (directUrl && !databaseUrl) {
    throw new ConfigError(
      'KEYGATE_LISTEN_DATABASE_URL is set but DATABASE_URL is not: it is a second connection to that database',
    );
  }
  const replicaUrls = (env.KEYGATE_REPLICA_DATABASE_URLS ?? '')
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  if (replicaUrls.length > 0) {
    if (!databaseUrl) {
      throw new ConfigError(
        'KEYGATE_REPLICA_DATABASE_URLS is set but DATABASE_URL is not: replicas are of a PostgreSQL primary, not of the embedded database',
      );
    }
    for (const url of replicaUrls) {
      if (!/^postgres(ql)?:\/\//.test(url)) {
        throw new ConfigError(
          'KEYGATE_REPLICA_DATABASE_URLS must be postgres:// or postgresql:// URLs, comma-separated',
        );
      }
      if (url === databaseUrl) {
        throw new ConfigError('KEYGATE_REPLICA_DATABASE_URLS lists DATABASE_URL itself: list its standbys');
      }
    }
    if (new Set(replicaUrls).size !== replicaUrls.length) {
      throw new ConfigError('KEYGATE_REPLICA_DATABASE_URLS lists a replica twice');
    }
  }
  return {
    host: env.HOST ?? '127.0.0.1',
    port: integer(env, 'PORT'),
    dataDir,
    storage: databaseUrl
      ? {
          kind: 'postgres',
          url: databaseUrl,
          directUrl: directUrl ?? databaseUrl,
          poolSize: integer(env, 'KEYGATE_DB_POOL_SIZE'),
          connectTimeoutMs: integer(env, 'KEYGATE_DB_CONNECT_TIMEOUT_SECONDS') * 1000,
        }
      : { kind: 'pglite', dataDir: absolute(env.KEYGATE_PGLITE_DIR ?? 'pglite', dataDir) },
    replicas: replicaUrls.length > 0 ? { urls: replicaUrls, pollMs: integer(env, 'KEYGATE_REPLICA_POLL_MS') } : null,
    auth: {
      secret: env.KEYGATE_JWT_SECRET || undefined,
      jwksUrl: env.KEYGATE_JWKS_URL || undefined,
      issuer: env.KEYGATE_JWT_ISSUER || undefined,
      audience: env.KEYGATE_JWT_AUDIENCE || undefined,
      merchantClaim: env.KEYGATE_MERCHANT_CLAIM || 'merchant_id',
    },
    maxKeysPerApplication: integer(env, 'KEYGATE_MAX_KEYS_PER_APPLICATION'),
    maxPageSize: integer(env, 'KEYGATE_MAX_PAGE_SIZE'),
    trustedProxies: cidrList(env, 'KEYGATE_TRUSTED_PROXIES'),
    cache: {
      maxKeys: integer(env, 'KEYGATE_CACHE_KEYS'),
      maxMisses: integer(env, 'KEYGATE_CACHE_MISSES'),
      ttlMs: integer(env, 'KEYGATE_CACHE_TTL_SECONDS') * 1000,
    },
    usageFlushMs: integer(env, 'KEYGATE_USAGE_FLUSH_MS'),
    verifierFeed: {
      ackTimeoutMs: integer(env, 'KEYGATE_VERIFIER_ACK_MS'),
      heartbeatMs: integer(env, 'KEYGATE_VERIFIER_HEARTBEAT_MS'),
      lookupsPerSecond: integer(env, 'KEYGATE_VERIFIER_LOOKUPS_PER_SECOND'),
    },
    usageRetentionDays: integer(env, 'KEYGATE_USAGE_RETENTION_DAYS'),
    observationWindowDays: integer(env, 'KEYGATE_OBSERVATION_WINDOW_DAYS'),
    anomalies: {
      intervalMs: integer(env, 'KEYGATE_ANOMALY_SCAN_SECONDS') * 1000,
      volumeFactor: integer(env, 'KEYGATE_ANOMALY_VOLUME_FACTOR'),
      minVolume: integer(env, 'KEYGATE_ANOMALY_MIN_VOLUME'),
      networksFactor: integer(env, 'KEYGATE_ANOMALY_NETWORKS_FACTOR'),
      minNetworks: integer(env, 'KEYGATE_ANOMALY_MIN_NETWORKS'),
      refusalsFactor: integer(env, 'KEYGATE_ANOMALY_REFUSALS_FACTOR'),
      minRefusals: integer(env, 'KEYGATE_ANOMALY_MIN_REFUSALS'),
    },
    graphqlFastPath: env.KEYGATE_GRAPHQL_FAST_PATH !== '0',
    webhooks: {
      allowInsecure: env.KEYGATE_WEBHOOKS_ALLOW_INSECURE === '1',
      allowPrivate: env.KEYGATE_WEBHOOKS_ALLOW_PRIVATE === '1',
      pollMs: integer(env, 'KEYGATE_WEBHOOK_POLL_MS'),
      maxInFlight: 32,
      perEndpoint: 2,
      perMerchant: 4,
      timeoutMs: integer(env, 'KEYGATE_WEBHOOK_TIMEOUT_SECONDS') * 1000,
      retryBaseMs: integer(env, 'KEYGATE_WEBHOOK_RETRY_BASE_MS'),
      retryForMs: integer(env, 'KEYGATE_WEBHOOK_RETRY_HOURS') * 3_600_000,
      disableAfterMs: integer(env, 'KEYGATE_WEBHOOK_DISABLE_AFTER_HOURS') * 3_600_000,
    },
    metricsToken: metricsToken(env.KEYGATE_METRICS_TOKEN),
    defaultKeyPolicy: keyPolicy(env.KEYGATE_DEFAULT_KEY_POLICY),
    expiry: {
      warnings: hoursList(env, 'KEYGATE_EXPIRY_WARNING_HOURS', [168, 24]).map((hours) => hours * 3600),
      intervalMs: integer(env, 'KEYGATE_EXPIRY_SCAN_SECONDS') * 1000,
    },
    leaks: env.KEYGATE_LEAK_REPORT_KEYS
      ? { keys: env.KEYGATE_LEAK_REPORT_KEYS, action: leakAction(env.KEYGATE_LEAK_ACTION) }
      : null,
    introspection: env.KEYGATE_INTROSPECTION !== '0',
    graphiql: env.KEYGATE_GRAPHIQL === '1' || (env.KEYGATE_GRAPHIQL !== '0' && env.NODE_ENV !== 'production'),
    failedVerifications: {
      burst: integer(env, 'KEYGATE_FAILED_VERIFICATIONS'),
      windowMs: integer(env, 'KEYGATE_FAILED_VERIFICATIONS_WINDOW_SECONDS') * 1000,
    },
    dashboard:
      env.KEYGATE_DASHBOARD === '0'
        ? null
        : {
            // server/src/config.ts and the built server/dist/main.js are both two levels below the root.
            dir: absolute(
              env.KEYGATE_DASHBOARD_DIR ?? fileURLToPath(new URL('../../web/dist', import.meta.url)),
              baseDir,
            ),
            embedOrigins: originList(env, 'KEYGATE_DASHBOARD_EMBED_ORIGINS'),
            integration: {
              apiUrl: httpUrl(env, 'KEYGATE_DASHBOARD_API_URL') ?? 'https://api.example.com',
              keyHeader: headerName(env, 'KEYGATE_DASHBOARD_KEY_HEADER') ?? 'Authorization',
            },
          },
    production: env.NODE_ENV === 'production',
  };
}

function absolute(path: string, base: string): string {
  return isAbsolute(path) ? path : resolve(base, path);
}

function cidrList(env: Env, name: string): string[] {
  const raw = env[name]?.trim();
  if (!raw) return [];
  return raw.split(/[\s,]+/).map((entry) => {
    const parsed = parseCidr(entry);
    if (!parsed.ok) throw new ConfigError(`${name}: "${entry}" ${parsed.error}`);
    return parsed.value.cidr;
  });
}

function originList(env: Env, name: string): string[] {
  const raw = env[name]?.trim();
  if (!raw) return [];
  return raw.split(/[\s,]+/).map((entry) => {
    let origin: string | null = null;
    try {
      const url = new URL(entry);
      if ((url.protocol === 'https:' || url.protocol === 'http:') && url.origin === entry) origin = url.origin;
    } catch {}
    if (origin === null) throw new ConfigError(`${name}: "${entry}" is not an origin such as https://app.example.com`);
    return origin;
  });
}

function httpUrl(env: Env, name: string): string | null {
  const raw = env[name]?.trim();
  if (!raw) return null;
  try {
    const url = new URL(raw);
    if ((url.protocol === 'https:' || url.protocol === 'http:') && !url.username && !url.password) return url.href;
  } catch {}
  throw new ConfigError(`${name}: "${raw}" is not an http(s) URL such as https://api.example.com/v1`);
}

function headerName(env: Env, name: string): string | null {
  const raw = env[name]?.trim();
  if (!raw) return null;
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/.test(raw)) {
    throw new ConfigError(`${name}: "${raw}" is not an HTTP header name such as Authorization or X-Api-Key`);
  }
  return raw;
}

function keyPolicy(raw: string | undefined): KeyPolicy | null {
  if (raw === undefined || raw.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ConfigError('KEYGATE_DEFAULT_KEY_POLICY must be JSON, e.g. {"maxLifetimeDays":{"live":90}}');
  }
  const parsed = keyPolicyRule.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path.length > 0 ? ` (${issue.path.join('.')})` : '';
    throw new ConfigError(`KEYGATE_DEFAULT_KEY_POLICY${at}: ${issue.message}`);
  }
  return parsed.data;
}

function hoursList(env: Env, name: string, fallback: number[]): number[] {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  return raw.split(/[\s,]+/).map((entry) => {
    const value = Number(entry);
    if (!Number.isInteger(value) || value < 1 || value > 8760) {
      throw new ConfigError(`${name} must list whole numbers of hours from 1 to 8760, e.g. "168,24" (got "${raw}")`);
    }
    return value;
  });
}

function metricsToken(raw: string | undefined): string | null {
  if (raw === undefined || raw === '') return null;
  if (raw.length < 16) throw new ConfigError('KEYGATE_METRICS_TOKEN must be at least 16 characters (a random string)');
  return raw;
}

function leakAction(raw: string | undefined): 'revoke' | 'flag' {
  if (raw === undefined || raw === '' || raw === 'revoke') return 'revoke';
  if (raw === 'flag') return 'flag';
  throw new ConfigError(`KEYGATE_LEAK_ACTION must be revoke or flag (got "${raw}")`);
}

/** A whole-number variable, with its default and bounds from `variables`. */
function integer(env: Env, name: VariableName): number {
  const { fallback, min, max } = variables[name] as Variable & { fallback: number; min: number; max: number };
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}
