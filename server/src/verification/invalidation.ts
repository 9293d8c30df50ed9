// Spreads "this key changed" to every instance's verification cache.
//
// PGlite: one process, so invalidating the caches in this process is everything.
// PostgreSQL: the change is published with pg_notify inside the change's own
// transaction, on a channel that every instance LISTENs to on a dedicated
// connection. PostgreSQL delivers it at commit, atomically with the change, so
// an instance dying between its commit and anything after it cannot lose the
// announcement. The publishing instance then waits until its own notification
// comes back: PostgreSQL signals all listeners at once, so by then every
// connected instance has it too. If the listening connection drops, the cache
// is cleared and bypassed until it is back.
//
// A LISTEN connection can look connected and hear nothing: behind a transaction-pooling
// proxy (PgBouncer) the session that ran LISTEN goes back to the proxy's pool. So the
// feed is proven, not assumed: at connect and every 30 s a probe is published the way
// changes are (through the query pool) and must come back on the listening connection.
// Until it does, the cache is bypassed, and the log says what to fix.
import { randomUUID } from 'node:crypto';
import type { KeyChange } from '@keygate/core';
import type { Verifier } from '@keygate/core/engine';
import type { Announcement, KeyChangeListener, SqlExecutor } from '@keygate/services';
import { context, trace } from '@opentelemetry/api';
import pg from 'pg';
import {
  announcementSpan,
  changeAttributes,
  currentRequestId,
  currentTraceparent,
  failed,
  linkTo,
  SpanKind,
  tracer,
  tracing,
} from '../observability/tracing.ts';
import type { FeedHub } from './feed.ts';

export const CHANNEL = 'keygate_key_changes';
/** How often an instance with embedded verifiers says so to the others (ms). */
const PRESENCE_MS = 5000;

export interface InvalidationBus extends KeyChangeListener {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Whether invalidations from other instances are being received. */
  readonly connected: boolean;
}

/** Verifiers (and verifier feeds) per in-process database: every server instance on it hears every change. */
const localSubscribers = new WeakMap<object, Set<{ verifier: Verifier; feed: FeedHub | null }>>();

export function localInvalidation(verifier: Verifier, database: object, feed: FeedHub | null = null): InvalidationBus {
  const all = localSubscribers.get(database) ?? new Set<{ verifier: Verifier; feed: FeedHub | null }>();
  localSubscribers.set(database, all);
  const self = { verifier, feed };
  all.add(self);
  return {
    connected: true,
    start: async () => {},
    stop: async () => {
      all.delete(self);
    },
    // One process: nothing to send, and the caches are dropped once the change is committed; then
    // the embedded verifiers connected to any instance have acknowledged it (or were cut).
    announce: async (_tx, change) => {
      const span = announcementSpan({ ...changeAttributes(change), 'keygate.change.transport': 'local' });
      return {
        settled: async () => {
          for (const subscriber of all) subscriber.verifier.invalidate(change);
          await Promise.all([...all].map((subscriber) => subscriber.feed?.publish(change)));
          span?.end();
        },
        cancel: () => {
          span?.setAttribute('keygate.change.cancelled', true);
          span?.end();
        },
      };
    },
  };
}

interface Message extends KeyChange {
  nonce: string;
  /** Embedded verifiers on instance `from` acknowledged change `ack` (see FeedHub). */
  ack?: string;
  from?: string;
  /** Instance `presence` has `verifiers` embedded verifiers connected to its feed. */
  presence?: string;
  verifiers?: number;
  /** A feed probe (see above), not a change. */
  probe?: true;
  /** When it was sent (ms since the epoch), for the delay metric. */
  at?: number;
  /** While tracing: the announcing span (W3C traceparent) and request, for the receivers' spans. */
  traceparent?: string;
  requestId?: string;
}

export interface FeedProbe {
  /** Publishes a payload on CHANNEL the way changes are published (pg_notify through the query pool). */
  publish(payload: string): Promise<unknown>;
  /** How often the feed is proven again while it works (ms). */
  everyMs?: number;
}

export class PostgresInvalidation implements InvalidationBus {
  private client: pg.Client | null = null;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly echoes = new Map<string, () => void>();
  /** Connected, and the last probe came back: changes are heard. */
  private hearing = false;
  /** The LISTEN connection is up. */
  private listening = false;
  /** This instance, for acknowledgements and presence. */
  private readonly instance = randomUUID();
  /** Instances with embedded verifiers connected, and when they last said so. */
  private readonly peers = new Map<string, number>();
  /** Changes announced here that wait for other instances' verifiers: nonce → instances still to acknowledge. */
  private readonly awaitingAcks = new Map<string, { pending: Set<string>; done: () => void }>();
  private presenceTimer: NodeJS.Timeout | undefined;
  /**
   * Told, synchronously, of every key change heard and of every (re)connection of the listening
   * connection, before anyone waiting for the change is: read replicas are fenced off then.
   */
  onChange: (() => void) | null = null;

  /** Changes from other instances are heard: listening, and (with a probe) the last probe came back. */
  get connected(): boolean {
    return this.listening && (this.probe === null || this.hearing);
  }

  constructor(
    private readonly url: string,
    private readonly verifier: Verifier,
    private readonly log: (line: string) => void,
    private readonly echoTimeoutMs = 2000,
    private readonly onReceived: ((delaySeconds: number) => void) | null = null,
    private readonly probe: FeedProbe | null = null,
    /** Embedded verifiers' feed on this instance (with `probe.publish` for acknowledgements). */
    private readonly feed: FeedHub | null = null,
  ) {
    if (feed) {
      feed.onCount = (count) => this.sayPresence(count);
    }
  }

  async start(): Promise<void> {
    this.verifier.setCacheTrusted(false);
    await this.connect();
    if (this.feed) {
      // Presence is said again while verifiers are connected; peers forget it after three silences.
      this.presenceTimer = setInterval(() => {
        if (this.feed!.count > 0) void this.sayPresence(this.feed!.count);
      }, PRESENCE_MS);
      this.presenceTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.presenceTimer);
    if (this.feed && this.feed.count > 0) void this.sayPresence(0);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.probeTimer);
    await this.client?.end().catch(() => {});
    this.client = null;
  }

  async announce(tx: SqlExecutor, change: KeyChange): Promise<Announcement> {
    const span = announcementSpan({ ...changeAttributes(change), 'keygate.change.transport': 'postgres-notify' });
    const message: Message = { ...change, nonce: randomUUID(), at: Date.now() };
    if (span) {
      message.traceparent = context.with(trace.setSpan(context.active(), span), currentTraceparent);
      message.requestId = currentRequestId();
    }
    // Listened for before sending: the echo may arrive before the commit's own answer does.
    let timer: NodeJS.Timeout | undefined;
    const echoed = new Promise<void>((resolve) => {
      this.echoes.set(message.nonce, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    // The instances whose embedded verifiers must acknowledge it (their own feeds bound the wait).
    const now = Date.now();
    const pending = new Set([...this.peers].filter(([, seen]) => now - seen < PRESENCE_MS * 3).map(([id]) => id));
    let acknowledged: Promise<void> | null = null;
    if (pending.size > 0) {
      acknowledged = new Promise<void>((resolve) => {
        this.awaitingAcks.set(message.nonce, { pending, done: resolve });
      });
    }
    const forget = () => {
      this.echoes.get(message.nonce)?.();
      this.echoes.delete(message.nonce);
      this.awaitingAcks.get(message.nonce)?.done();
      this.awaitingAcks.delete(message.nonce);
    };
    try {
      await tx.$executeRawUnsafe('SELECT pg_notify($1, $2)', CHANNEL, JSON.stringify(message));
    } catch (error) {
      forget();
      if (span) {
        failed(span, error);
        span.end();
      }
      throw error;
    }
    return {
      settled: async () => {
        this.verifier.invalidate(change);
        this.onChange?.();
        // Without a listening connection there is nothing to wait for (and the cache is bypassed anyway).
        if (!this.connected) {
          span?.setAttribute('keygate.change.echoed', false);
          span?.end();
          return forget();
        }
        // The echo may have come back already (before the commit's own answer did): then only the
        // embedded verifiers' acknowledgements are left to wait for.
        if (this.echoes.has(message.nonce)) {
          timer = setTimeout(() => {
            this.log(`warning: key change ${message.nonce} was not echoed within ${this.echoTimeoutMs} ms`);
            span?.setAttribute('keygate.change.echoed', false);
            forget();
          }, this.echoTimeoutMs);
          await echoed;
        }
        if (acknowledged !== null) {
          // Each instance cuts its verifiers that do not acknowledge within its own timeout; this
          // bound only covers an instance that died meanwhile.
          const bound = setTimeout(forget, (this.feed?.ackTimeoutMs ?? 1000) + this.echoTimeoutMs);
          await acknowledged;
          clearTimeout(bound);
          this.awaitingAcks.delete(message.nonce);
        }
        span?.end();
      },
      cancel: () => {
        span?.setAttribute('keygate.change.cancelled', true);
        span?.end();
        forget();
      },
    };
  }

  /** Tells the other instances whether this one's verifiers must acknowledge their changes. */
  /**
   * Tells the other instances whether this one's verifiers must acknowledge their changes; resolves
   * once the message came back here, when every listening instance has it too (bounded).
   */
  private sayPresence(count: number): Promise<void> {
    if (!this.probe) return Promise.resolve();
    const nonce = randomUUID();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.echoTimeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.echoes.set(nonce, () => {
        this.echoes.delete(nonce);
        done();
      });
      this.probe!.publish(JSON.stringify({ nonce, presence: this.instance, verifiers: count })).catch(() => {
        this.echoes.delete(nonce);
        done();
      });
    });
  }

  private async connect(): Promise<void> {
    // Named, so operators (and tests) can tell the listening connection apart.
    const client = new pg.Client({
      connectionString: this.url,
      application_name: `keygate-invalidation-${process.pid}`,
    });
    client.on('notification', (notification) => this.receive(notification.payload));
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => {});
      this.lost(client, error);
      return;
    }
    this.client = client;
    this.listening = true;
    // Changes made while we were not listening are unknown: replicas must replay up to now.
    this.onChange?.();
    if (this.probe) await this.prove();
    // Changes made while we were not listening are unknown: start from an empty cache.
    else this.verifier.setCacheTrusted(true);
  }

  /** Publishes a probe and waits for it on the listening connection; trusts the cache only if it comes. */
  private async prove(): Promise<void> {
    clearTimeout(this.probeTimer);
    const client = this.client;
    if (!this.probe || !client || this.stopped) return;
    const nonce = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const heard = new Promise<boolean>((resolve) => {
      this.echoes.set(nonce, () => resolve(true));
      timer = setTimeout(() => resolve(false), this.echoTimeoutMs);
    });
    let came: boolean;
    try {
      await this.probe.publish(JSON.stringify({ nonce, probe: true }));
      came = await heard;
    } catch {
      came = false; // the query pool failed: the next probe tries again
    } finally {
      clearTimeout(timer);
      this.echoes.delete(nonce);
    }
    if (this.client !== client || this.stopped) return; // lost or stopped meanwhile
    if (came && !this.hearing) {
      this.hearing = true;
      this.verifier.setCacheTrusted(true);
    } else if (!came && this.hearing) {
      this.hearing = false;
      this.verifier.setCacheTrusted(false);
      this.feed?.reset();
    }
    if (!came) {
      this.log(
        `error: the change-notification connection hears nothing (a probe published on ${CHANNEL} did not come back within ${this.echoTimeoutMs} ms). ` +
          'Verifications read the database until it does. If DATABASE_URL goes through a transaction-pooling proxy such as PgBouncer, ' +
          'set KEYGATE_LISTEN_DATABASE_URL to a direct connection to PostgreSQL.',
      );
    }
    // While deaf, try again soon; while hearing, every everyMs.
    this.probeTimer = setTimeout(() => void this.prove(), came ? (this.probe.everyMs ?? 30_000) : 5000);
    this.probeTimer.unref();
  }

  private receive(payload: string | undefined): void {
    let message: Message;
    try {
      message = JSON.parse(payload ?? '');
    } catch {
      return;
    }
    if (message.probe) {
      this.echoes.get(message.nonce)?.();
      return;
    }
    if (message.presence !== undefined) {
      if (message.verifiers) this.peers.set(message.presence, Date.now());
      else this.peers.delete(message.presence);
      this.echoes.get(message.nonce)?.();
      return;
    }
    if (message.ack !== undefined) {
      const waiting = this.awaitingAcks.get(message.ack);
      if (waiting && message.from !== undefined) {
        waiting.pending.delete(message.from);
        if (waiting.pending.size === 0) waiting.done();
      }
      return;
    }
    this.verifier.invalidate(message);
    this.onChange?.();
    // On to the embedded verifiers connected here; once they have it, the announcer is told.
    if (this.feed && this.feed.count > 0 && this.probe) {
      const probe = this.probe;
      void this.feed.publish(message).then((sent) => {
        if (sent > 0) {
          probe
            .publish(JSON.stringify({ nonce: randomUUID(), ack: message.nonce, from: this.instance }))
            .catch(() => {});
        }
      });
    } else this.feed?.publish(message);
    const delaySeconds = typeof message.at === 'number' ? (Date.now() - message.at) / 1000 : null;
    if (this.onReceived && delaySeconds !== null) this.onReceived(delaySeconds);
    if (tracing.enabled) {
      // Its own trace, linked to the announcing span (on this instance or another).
      tracer
        .startSpan('keygate.change.receive', {
          kind: SpanKind.CONSUMER,
          root: true,
          links: linkTo(message.traceparent),
          attributes: {
            ...changeAttributes(message),
            ...(message.requestId ? { 'keygate.request_id': message.requestId } : {}),
            ...(delaySeconds !== null ? { 'keygate.change.delay_ms': delaySeconds * 1000 } : {}),
          },
        })
        .end();
    }
    this.echoes.get(message.nonce)?.();
    this.echoes.delete(message.nonce);
  }

  private lost(client: pg.Client, error?: unknown): void {
    if (this.client !== null && this.client !== client) return;
    this.client = null;
    // A stop ends the connection on purpose: nothing was lost.
    if (this.listening && !this.stopped)
      this.log(
        `invalidation feed lost${error ? ` (${(error as Error).message})` : ''}; verifying from the database until it is back`,
      );
    this.listening = false;
    this.hearing = false;
    clearTimeout(this.probeTimer);
    this.verifier.setCacheTrusted(false);
    // Changes may be missed from now on: the verifiers connected here drop their caches too.
    this.feed?.reset();
    for (const resolve of this.echoes.values()) resolve();
    this.echoes.clear();
    if (this.stopped || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopped) void this.connect();
    }, 250);
  }
}
