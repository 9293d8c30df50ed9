// Keygate's configuration, read from the environment once at start-up.
// Every variable is listed in the README; a bad value stops start-up with a
// message naming it.
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCidr } from '@keygate/core';
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
  /** Absent until resolved by loadAuth (the development secret lives in the data directory). */
  auth: Omit<AuthConfig, 'key'> & { secret?: string; jwksUrl?: string };
  maxKeysPerApplication: number;
  maxPageSize: number;
  /** Peers whose X-Forwarded-For / X-Real-IP are believed (canonical CIDRs). */
  trustedProxies: string[];
  cache: { maxKeys: number; maxMisses: number; ttlMs: number };
  /** How often last-used times, usage counts and refusals are written. */
  usageFlushMs: number;
  /** How long hourly usage counts are kept. */
  usageRetentionDays: number;
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
  /** Expiry warnings: seconds before an expiry at which to warn, and how often to look. */
  expiry: { warnings: number[]; intervalMs: number };
  /** Leaked-key reports (POST /v1/leaks): where the signers' public keys are, and what to do. */
  leaks: { keys: string; action: 'revoke' | 'flag' } | null;
  /** Failed verifications (wrong guesses) allowed per client address and window; 0 turns the limit off. */
  failedVerifications: { burst: number; windowMs: number };
  /** The merchant dashboard at /: where its build is, and who may embed it; null when turned off. */
  dashboard: { dir: string; embedOrigins: string[] } | null;
  production: boolean;
}

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
  return {
    host: env.HOST ?? '127.0.0.1',
    port: integer(env, 'PORT', 4000, 0, 65535),
    dataDir,
    storage: databaseUrl
      ? {
          kind: 'postgres',
          url: databaseUrl,
          directUrl: directUrl ?? databaseUrl,
          poolSize: integer(env, 'KEYGATE_DB_POOL_SIZE', 10, 1, 1000),
          connectTimeoutMs: integer(env, 'KEYGATE_DB_CONNECT_TIMEOUT_SECONDS', 30, 0, 3600) * 1000,
        }
      : { kind: 'pglite', dataDir: absolute(env.KEYGATE_PGLITE_DIR ?? 'pglite', dataDir) },
    auth: {
      secret: env.KEYGATE_JWT_SECRET || undefined,
      jwksUrl: env.KEYGATE_JWKS_URL || undefined,
      issuer: env.KEYGATE_JWT_ISSUER || undefined,
      audience: env.KEYGATE_JWT_AUDIENCE || undefined,
      merchantClaim: env.KEYGATE_MERCHANT_CLAIM || 'merchant_id',
    },
    maxKeysPerApplication: integer(env, 'KEYGATE_MAX_KEYS_PER_APPLICATION', 100, 1, 100_000),
    maxPageSize: integer(env, 'KEYGATE_MAX_PAGE_SIZE', 100, 1, 1000),
    trustedProxies: cidrList(env, 'KEYGATE_TRUSTED_PROXIES'),
    cache: {
      maxKeys: integer(env, 'KEYGATE_CACHE_KEYS', 100_000, 1, 10_000_000),
      maxMisses: integer(env, 'KEYGATE_CACHE_MISSES', 10_000, 1, 10_000_000),
      ttlMs: integer(env, 'KEYGATE_CACHE_TTL_SECONDS', 300, 1, 86_400) * 1000,
    },
    usageFlushMs: integer(env, 'KEYGATE_USAGE_FLUSH_MS', 5000, 10, 3_600_000),
    usageRetentionDays: integer(env, 'KEYGATE_USAGE_RETENTION_DAYS', 90, 1, 3650),
    graphqlFastPath: env.KEYGATE_GRAPHQL_FAST_PATH !== '0',
    webhooks: {
      allowInsecure: env.KEYGATE_WEBHOOKS_ALLOW_INSECURE === '1',
      allowPrivate: env.KEYGATE_WEBHOOKS_ALLOW_PRIVATE === '1',
      pollMs: integer(env, 'KEYGATE_WEBHOOK_POLL_MS', 500, 10, 60_000),
      maxInFlight: 32,
      perEndpoint: 2,
      perMerchant: 4,
      timeoutMs: integer(env, 'KEYGATE_WEBHOOK_TIMEOUT_SECONDS', 10, 1, 30) * 1000,
      retryBaseMs: integer(env, 'KEYGATE_WEBHOOK_RETRY_BASE_MS', 5_000, 1, 3_600_000),
      retryForMs: integer(env, 'KEYGATE_WEBHOOK_RETRY_HOURS', 24, 1, 720) * 3_600_000,
      disableAfterMs: integer(env, 'KEYGATE_WEBHOOK_DISABLE_AFTER_HOURS', 72, 1, 8_760) * 3_600_000,
    },
    metricsToken: metricsToken(env.KEYGATE_METRICS_TOKEN),
    expiry: {
      warnings: hoursList(env, 'KEYGATE_EXPIRY_WARNING_HOURS', [168, 24]).map((hours) => hours * 3600),
      intervalMs: integer(env, 'KEYGATE_EXPIRY_SCAN_SECONDS', 60, 1, 86_400) * 1000,
    },
    leaks: env.KEYGATE_LEAK_REPORT_KEYS
      ? { keys: env.KEYGATE_LEAK_REPORT_KEYS, action: leakAction(env.KEYGATE_LEAK_ACTION) }
      : null,
    introspection: env.KEYGATE_INTROSPECTION !== '0',
    graphiql: env.KEYGATE_GRAPHIQL === '1' || (env.KEYGATE_GRAPHIQL !== '0' && env.NODE_ENV !== 'production'),
    failedVerifications: {
      burst: integer(env, 'KEYGATE_FAILED_VERIFICATIONS', 30, 0, 1_000_000),
      windowMs: integer(env, 'KEYGATE_FAILED_VERIFICATIONS_WINDOW_SECONDS', 60, 1, 86_400) * 1000,
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

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}
