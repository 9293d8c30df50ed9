// What every resolver receives. Built per request by the server; the schema
// itself reads no environment and knows nothing of HTTP.
import type { KeyChange, KeyPolicy, KeyVerifier } from '@keygate/core';
import type { PrismaClient } from './prisma.ts';

export type { KeyChange };

export interface Viewer {
  /** The tenant every management operation acts for (the JWT's merchant claim). */
  merchantId: string;
  /** The JWT subject: who acts for the merchant. */
  subject: string | null;
}

/** Runs SQL inside the change's transaction (a Prisma transaction client). */
export interface SqlExecutor {
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

/**
 * Told about every change that can alter how a key verifies (cache invalidation).
 * `announce` is called inside the change's own transaction, so the announcement
 * is delivered at commit, atomically with the change: an instance that dies
 * after committing cannot leave the others serving a revoked key.
 */
export interface KeyChangeListener {
  announce(tx: SqlExecutor, change: KeyChange): Promise<Announcement>;
}

export interface Announcement {
  /** After commit: resolves once every instance has dropped the affected keys. */
  settled(): Promise<void>;
  /** The transaction did not commit: nothing was announced. */
  cancel(): void;
}

export interface SchemaSettings {
  /** Most non-revoked keys one application may hold. */
  maxKeysPerApplication: number;
  /** Largest `first`/`last` a connection accepts. */
  maxPageSize: number;
  /** The clock of credits and their refills (the verification path's clock); Date.now when absent. */
  clock?: () => number;
  /** Webhook URLs: plain http (KEYGATE_WEBHOOKS_ALLOW_INSECURE) and non-public hosts (KEYGATE_WEBHOOKS_ALLOW_PRIVATE). */
  webhooks?: { allowInsecure: boolean; allowPrivate: boolean };
  /** The operator's key policy for merchants that have not set their own (KEYGATE_DEFAULT_KEY_POLICY). */
  defaultKeyPolicy?: KeyPolicy | null;
  /** Days of observed use least-privilege suggestions read (KEYGATE_OBSERVATION_WINDOW_DAYS; 30). */
  observationWindowDays?: number;
}

/** The current time of a request, by the server's clock (ms since the epoch). */
export const clockOf = (ctx: Context): number => (ctx.settings.clock ?? Date.now)();

/** A service that verifies keys for any merchant (a gateway, the platform's API). */
export interface ServicePrincipal {
  subject: string | null;
}

export interface Context {
  prisma: PrismaClient;
  /** The merchant the request acts for; null for anonymous and service callers. */
  viewer: Viewer | null;
  service: ServicePrincipal | null;
  verifier?: KeyVerifier;
  /** This request, for the audit trail: its id (X-Request-Id or generated) and the client address; its headers for tracing. */
  request?: { id: string; ip: string | null; headers?: Headers };
  settings: SchemaSettings;
  /** Told about every change that alters how keys verify (noKeyChanges where nothing caches keys). */
  keyChanges: KeyChangeListener;
}

/** The context of a field behind the `merchant` auth scope (scope-auth's AuthContexts). */
export type MerchantContext = Context & { viewer: Viewer };

/** For a process with no verification cache to keep fresh (tools, some tests). */
export const noKeyChanges: KeyChangeListener = {
  announce: async () => ({ settled: async () => {}, cancel: () => {} }),
};
