// Prometheus metrics at GET /metrics (behind KEYGATE_METRICS_TOKEN). The hot
// path only bumps plain counters and observes a pre-labelled histogram; the
// rest is read when Prometheus scrapes.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeyVerifier } from '@keygate/core';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ReplicaStatus } from '../db/replicas.ts';

export type VerificationPath = 'forward_auth' | 'graphql';

/** What the scrape reads from the running server's parts. */
export interface MetricSources {
  cache(): { hits: number; misses: number; keys: number; unknown: number };
  invalidations(): { received: number; connected: boolean };
  usageFlushes(): { ok: number; failed: number };
  webhookAttempts(): number;
  meterStatements(): number;
  /** PostgreSQL's query pool; null embedded. */
  pool(): PoolStats | null;
  /** Read replicas for cache misses, and where misses were read; null without replicas. */
  replicas?(): ReplicaStats | null;
}

export interface ReplicaStats {
  replicas: ReplicaStatus[];
  reads: { replica: number; primary: number; replicaFailed: number };
}

export interface PoolStats {
  /** Connections open: in use and idle. */
  total: number;
  idle: number;
  /** Queries waiting for a connection. */
  waiting: number;
  max: number;
}

const LATENCY_BUCKETS = [1e-6, 5e-6, 2e-5, 1e-4, 5e-4, 0.002, 0.01, 0.05, 0.25, 1];
const PATHS: VerificationPath[] = ['forward_auth', 'graphql'];

/**
 * A verification path's counts, kept in plain numbers: the hot path only adds to them (prom-client's
 * labelled children hash their labels on every call, which cost forward-auth a fifth of its
 * throughput); the metrics are built from them when Prometheus scrapes.
 */
interface PathCounts {
  codes: Map<string, number>;
  buckets: Float64Array;
  sum: number;
  count: number;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly invalidationDelay: Histogram;
  private readonly operations: Counter<'operation' | 'error_code'>;
  private readonly paths: Record<VerificationPath, PathCounts> = {
    forward_auth: { codes: new Map(), buckets: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0, count: 0 },
    graphql: { codes: new Map(), buckets: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0, count: 0 },
  };

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'keygate_' });
    const paths = this.paths;
    new Counter({
      name: 'keygate_verifications_total',
      help: 'Verifications answered, by path (forward_auth, graphql) and reason code',
      labelNames: ['path', 'code'],
      registers,
      collect() {
        // Set from the running totals (only ever growing).
        this.reset();
        for (const path of PATHS) for (const [code, n] of paths[path].codes) this.inc({ path, code }, n);
      },
    });
    // A histogram assembled from the plain counts (prom-client's own would hash labels per observation).
    const latency = {
      name: 'keygate_verification_duration_seconds',
      help: 'Time to decide a verification, by path (memory hits are microseconds; misses read the database)',
      type: 'histogram',
      aggregator: 'sum',
      reset() {},
      async get() {
        const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
        for (const path of PATHS) {
          const counts = paths[path];
          let cumulative = 0;
          LATENCY_BUCKETS.forEach((le, i) => {
            cumulative += counts.buckets[i]!;
            values.push({ labels: { le, path }, value: cumulative, metricName: `${latency.name}_bucket` });
          });
          values.push({ labels: { le: '+Inf', path }, value: counts.count, metricName: `${latency.name}_bucket` });
          values.push({ labels: { path }, value: counts.sum, metricName: `${latency.name}_sum` });
          values.push({ labels: { path }, value: counts.count, metricName: `${latency.name}_count` });
        }
        return { name: latency.name, help: latency.help, type: 'histogram', values, aggregator: 'sum' };
      },
    };
    this.registry.registerMetric(latency as unknown as Histogram);
    this.invalidationDelay = new Histogram({
      name: 'keygate_invalidation_delay_seconds',
      help: 'From the change’s commit on one instance to this instance dropping the key (PostgreSQL)',
      buckets: [0.001, 0.005, 0.02, 0.05, 0.2, 1, 5],
      registers,
    });
    this.operations = new Counter({
      name: 'keygate_graphql_operations_total',
      help: 'GraphQL operations executed, by operation name and first error code (empty: none)',
      labelNames: ['operation', 'error_code'],
      registers,
    });
    const counterFrom = (name: string, help: string, read: () => number, labels?: Record<string, string>) => {
      let last = 0;
      new Counter({
        name,
        help,
        registers,
        ...(labels ? { labelNames: Object.keys(labels) } : {}),
        collect() {
          const value = read();
          if (value > last) (labels ? this.labels(labels) : this).inc(value - last);
          last = value;
        },
      });
    };
    counterFrom('keygate_cache_hits_total', 'Verifications answered from memory', () => sources.cache().hits);
    counterFrom('keygate_cache_misses_total', 'Verifications that read the database', () => sources.cache().misses);
    new Gauge({
      name: 'keygate_cache_entries',
      help: 'Entries in the verification cache, by kind (key, unknown: remembered misses)',
      labelNames: ['kind'],
      registers,
      collect() {
        const { keys, unknown } = sources.cache();
        this.set({ kind: 'key' }, keys);
        this.set({ kind: 'unknown' }, unknown);
      },
    });
    counterFrom(
      'keygate_invalidations_received_total',
      'Key changes received (from this instance and, on PostgreSQL, from the others)',
      () => sources.invalidations().received,
    );
    new Gauge({
      name: 'keygate_listen_connected',
      help: '1 while change notifications are received (PostgreSQL LISTEN; always 1 embedded)',
      registers,
      collect() {
        this.set(sources.invalidations().connected ? 1 : 0);
      },
    });
    counterFrom('keygate_usage_flushes_total', 'Usage flushes written', () => sources.usageFlushes().ok, {
      result: 'ok',
    });
    counterFrom(
      'keygate_usage_flush_failures_total',
      'Usage flushes that failed (retried)',
      () => sources.usageFlushes().failed,
    );
    counterFrom('keygate_webhook_attempts_total', 'Webhook delivery attempts made', () => sources.webhookAttempts());
    new Gauge({
      name: 'keygate_db_pool_connections',
      help: 'PostgreSQL query pool connections by state (in_use, idle), and the most it opens (max)',
      labelNames: ['state'],
      registers,
      collect() {
        const pool = sources.pool();
        if (!pool) return;
        this.set({ state: 'in_use' }, pool.total - pool.idle);
        this.set({ state: 'idle' }, pool.idle);
        this.set({ state: 'max' }, pool.max);
      },
    });
    new Gauge({
      name: 'keygate_db_pool_waiting',
      help: 'Queries waiting for a PostgreSQL pool connection (all in use)',
      registers,
      collect() {
        const pool = sources.pool();
        if (pool) this.set(pool.waiting);
      },
    });
    if (sources.replicas) {
      const replicas = sources.replicas;
      const perReplica = (name: string, help: string, value: (r: ReplicaStatus) => number | null) =>
        new Gauge({
          name,
          help,
          labelNames: ['replica'],
          registers,
          collect() {
            this.reset();
            for (const replica of replicas()?.replicas ?? []) {
              const v = value(replica);
              if (v !== null) this.set({ replica: replica.name }, v);
            }
          },
        });
      perReplica('keygate_replica_up', 'Read replica answering and in recovery (1), or not (0)', (r) => (r.up ? 1 : 0));
      perReplica(
        'keygate_replica_fresh',
        'Read replica has replayed the latest key change this instance heard of (1): cache misses may read it',
        (r) => (r.fresh ? 1 : 0),
      );
      perReplica(
        'keygate_replica_lag_bytes',
        'WAL the primary has written that the replica has not replayed, at the last poll',
        (r) => r.lagBytes,
      );
      perReplica(
        'keygate_replica_lag_seconds',
        'Seconds since the replica replayed its latest transaction (0 when it has replayed everything)',
        (r) => r.lagSeconds,
      );
      new Counter({
        name: 'keygate_key_loads_total',
        help: 'Cache misses read from the database, by where they were read (replica, primary)',
        labelNames: ['source'],
        registers,
        collect() {
          // Set from the running totals (only ever growing).
          this.reset();
          const reads = replicas()?.reads;
          this.inc({ source: 'replica' }, reads?.replica ?? 0);
          this.inc({ source: 'primary' }, reads?.primary ?? 0);
        },
      });
      counterFrom(
        'keygate_replica_read_failures_total',
        'Cache misses a replica failed to answer (read again from the primary)',
        () => replicas()?.reads.replicaFailed ?? 0,
      );
    }
    counterFrom('keygate_meter_statements_total', 'Statements the metering sent (reservations, give-backs)', () =>
      sources.meterStatements(),
    );
  }

  /** One answered verification; `started` from performance.now(). */
  /** A verifier whose every verification is counted on `path`, in memory or loaded. */
  measured(path: VerificationPath, verifier: KeyVerifier): KeyVerifier {
    return {
      verify: (request, scope) => {
        const started = performance.now();
        const outcome = verifier.verify(request, scope);
        if (!(outcome instanceof Promise)) {
          this.verification(path, outcome.code, started);
          return outcome;
        }
        return outcome.then((settled) => {
          this.verification(path, settled.code, started);
          return settled;
        });
      },
    };
  }

  verification(path: VerificationPath, code: string, started: number): void {
    const counts = this.paths[path];
    counts.codes.set(code, (counts.codes.get(code) ?? 0) + 1);
    const seconds = (performance.now() - started) / 1000;
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[bucket]!) bucket++;
    counts.buckets[bucket]!++;
    counts.sum += seconds;
    counts.count++;
  }

  invalidationReceived(delaySeconds: number | null): void {
    if (delaySeconds !== null && delaySeconds >= 0) this.invalidationDelay.observe(delaySeconds);
  }

  operation(name: string, errorCode: string): void {
    this.operations.labels(name.slice(0, 64), errorCode).inc();
  }
}

/** GET /metrics: the text format, for a bearer of the token only. */
export function metricsHandler(metrics: Metrics, token: string) {
  const expected = Buffer.from(`Bearer ${token}`);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' });
      res.end('send Authorization: Bearer <KEYGATE_METRICS_TOKEN>\n');
      return;
    }
    const body = await metrics.registry.metrics();
    res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
    res.end(body);
  };
}
