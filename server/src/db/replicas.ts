// Read replicas for the cache misses of verification (KEYGATE_REPLICA_DATABASE_URLS).
//
// A miss may read a replica only when that replica has replayed at least the WAL position of the
// latest key change this instance knows of; otherwise a revoked key could be read back as valid
// from a replica that has not replayed the revocation yet.
//
// The position: a change is announced with pg_notify inside its own transaction, so its commit
// position does not exist yet when the announcement is written. PostgreSQL delivers the
// notification after the commit record is in the WAL; so when an instance hears a change, it
// *fences* the replicas (every miss reads the primary from that moment, synchronously, before the
// announcer is told the change was heard) and reads the primary's WAL insert position, which is at
// or past that commit. Once read, that position is what a replica must have replayed. The same
// happens whenever the change feed (re)connects, since changes may have been missed meanwhile, and
// while the feed is down no replica is read at all.
//
// A replica's replay position is polled (pg_last_wal_replay_lsn()) rather than read per miss: the
// miss's snapshot on the replica is taken after the poll, so it includes everything the poll saw.
// A replica that fails a query or a poll is set aside until a poll succeeds again; a miss it
// failed is read again from the primary. Writes and every other read stay on the primary.
import pg from 'pg';

export interface ReplicaStatus {
  /** host:port/database, without credentials. */
  name: string;
  /** The last poll succeeded and the server is a standby in recovery. */
  up: boolean;
  /** Replayed at least the latest known change: misses may read it. */
  fresh: boolean;
  /** Bytes of WAL the primary has written that the replica has not replayed (at the last poll). */
  lagBytes: number | null;
  /** Seconds since the replica replayed its latest transaction, when the primary has written since. */
  lagSeconds: number | null;
  /** Why it is down, when it is. */
  error: string | null;
}

export interface ReplicaOptions {
  urls: readonly string[];
  /** How often replicas' replay positions are read (ms). */
  pollMs: number;
  /** Connections per replica. */
  poolSize: number;
  log: (line: string) => void;
  /** Whether changes are being heard (the change feed is connected); replicas are unread while not. */
  hearing: () => boolean;
}

/** Longest a replica may take to connect or to answer before it is set aside (ms). */
const REPLICA_TIMEOUT_MS = 1000;
/** While a replica is behind the latest change, its position is read this often (ms). */
const CATCH_UP_POLL_MS = 10;

interface Replica {
  name: string;
  pool: pg.Pool;
  up: boolean;
  replayed: number;
  lagBytes: number | null;
  lagSeconds: number | null;
  error: string | null;
  polling: boolean;
}

export class ReplicaSet {
  private readonly replicas: Replica[];
  /** The WAL position every replica read must have replayed; -1 before the first fence completed. */
  private required = -1;
  /** Fences whose primary position is still being read: misses read the primary meanwhile. */
  private fencing = 0;
  /** A fence whose read failed: tried again at the next poll. */
  private fenceOwed = false;
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private primaryLsn = -1;
  /** Misses read from a replica, and from the primary, since start. */
  readonly reads = { replica: 0, primary: 0, replicaFailed: 0 };

  constructor(
    private readonly primary: pg.Pool,
    private readonly options: ReplicaOptions,
  ) {
    this.replicas = options.urls.map((url) => ({
      name: replicaName(url),
      // A replica that stops answering must not hold a miss: past these, the miss reads the primary.
      pool: new pg.Pool({
        connectionString: url,
        max: options.poolSize,
        application_name: 'keygate-replica-reads',
        connectionTimeoutMillis: REPLICA_TIMEOUT_MS,
        query_timeout: REPLICA_TIMEOUT_MS,
      }),
      up: false,
      replayed: -1,
      lagBytes: null,
      lagSeconds: null,
      error: 'not polled yet',
      polling: false,
    }));
    for (const replica of this.replicas) {
      // An idle connection that breaks must not crash the process; the next poll says so.
      replica.pool.on('error', (error) => this.down(replica, error));
    }
  }

  async start(): Promise<void> {
    this.fence();
    await this.poll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all(this.replicas.map((replica) => replica.pool.end().catch(() => {})));
  }

  /**
   * A key change was heard, or the feed reconnected: no replica is read until the primary's WAL
   * position is known, and then only replicas that replayed it. Synchronous up to the read.
   */
  fence(): void {
    this.fencing++;
    void this.primary
      .query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')
      .then(
        ({ rows }) => {
          this.required = Math.max(this.required, parseLsn(rows[0]!.lsn));
          this.primaryLsn = Math.max(this.primaryLsn, this.required);
        },
        () => {
          // Unknown: replicas stay unread until a later fence succeeds.
          this.fenceOwed = true;
        },
      )
      .finally(() => {
        this.fencing--;
        // The replicas most likely replayed it already: look now rather than at the next poll.
        if (!this.stopped) this.schedule(0);
      });
  }

  /** The pool a miss reads from: a fresh replica (in turn), else null for the primary. */
  pick(): pg.Pool | null {
    if (this.fencing > 0 || this.fenceOwed || this.required < 0 || !this.options.hearing()) return null;
    const n = this.replicas.length;
    for (let i = 0; i < n; i++) {
      const replica = this.replicas[(this.next + i) % n]!;
      if (replica.up && replica.replayed >= this.required) {
        this.next = (this.next + i + 1) % n;
        return replica.pool;
      }
    }
    return null;
  }

  /** A miss read from `pool` (a replica's, or null for the primary) failed there: set it aside. */
  failed(pool: pg.Pool, error: unknown): void {
    const replica = this.replicas.find((r) => r.pool === pool);
    if (replica) {
      this.reads.replicaFailed++;
      this.down(replica, error);
    }
  }

  status(): ReplicaStatus[] {
    return this.replicas.map((replica) => ({
      name: replica.name,
      up: replica.up,
      fresh: replica.up && this.required >= 0 && replica.replayed >= this.required,
      lagBytes: replica.lagBytes,
      lagSeconds: replica.lagSeconds,
      error: replica.error,
    }));
  }

  /** Replicas up, of all configured (for /readyz: fewer is degraded, not down). */
  get upCount(): number {
    return this.replicas.filter((replica) => replica.up).length;
  }

  get count(): number {
    return this.replicas.length;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), ms);
    this.timer.unref();
  }

  /** Reads every replica's replay position (and the primary's, for the lag). */
  private async poll(): Promise<void> {
    if (this.stopped) return;
    clearTimeout(this.timer);
    if (this.fenceOwed && this.fencing === 0) {
      this.fenceOwed = false;
      this.fence();
    }
    try {
      const { rows } = await this.primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      this.primaryLsn = Math.max(this.primaryLsn, parseLsn(rows[0]!.lsn));
    } catch {
      // The primary's own trouble shows elsewhere (/readyz); the lag is then unknown.
    }
    await Promise.all(this.replicas.map((replica) => this.pollOne(replica)));
    if (this.stopped) return;
    // Behind the latest change: look again soon, so misses come back to the replica quickly.
    const behind = this.replicas.some((r) => r.up && r.replayed < this.required);
    this.schedule(behind ? CATCH_UP_POLL_MS : this.options.pollMs);
  }

  private async pollOne(replica: Replica): Promise<void> {
    if (replica.polling) return;
    replica.polling = true;
    try {
      const { rows } = await replica.pool.query<{ recovery: boolean; lsn: string | null; seconds: number | null }>(
        `SELECT pg_is_in_recovery() AS recovery, pg_last_wal_replay_lsn()::text AS lsn,
                extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS seconds`,
      );
      const row = rows[0]!;
      if (!row.recovery || row.lsn === null) {
        // Promoted, or not a standby at all: its data may diverge from the primary's from now on.
        this.down(replica, new Error('not a standby in recovery (promoted, or not a replica)'));
        return;
      }
      const wasUp = replica.up;
      replica.replayed = Math.max(replica.replayed, parseLsn(row.lsn));
      replica.up = true;
      replica.error = null;
      replica.lagBytes = this.primaryLsn < 0 ? null : Math.max(0, this.primaryLsn - replica.replayed);
      // Time since the last replayed transaction says nothing when the primary wrote nothing since.
      replica.lagSeconds = replica.lagBytes === 0 ? 0 : row.seconds;
      if (!wasUp) this.options.log(`read replica ${replica.name} is up`);
    } catch (error) {
      this.down(replica, error);
    } finally {
      replica.polling = false;
    }
  }

  private down(replica: Replica, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (replica.up || replica.error === 'not polled yet') {
      this.options.log(`read replica ${replica.name} is unavailable (${message}); cache misses read the primary`);
    }
    replica.up = false;
    replica.error = message;
  }
}

/** A WAL position ('16/B374D848') as a number (exact below 2^53 bytes of WAL). */
export function parseLsn(text: string): number {
  const slash = text.indexOf('/');
  return Number.parseInt(text.slice(0, slash), 16) * 2 ** 32 + Number.parseInt(text.slice(slash + 1), 16);
}

/** host:port/database of a URL, without user or password (for logs, /readyz and /metrics). */
export function replicaName(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return 'replica';
  }
}
