// The verification hot path: parse and checksum (no I/O), hash, memory, and
// the database only on a miss. See decide() for the order of the checks.
import {
  decide,
  hashKey,
  KEY_LENGTH,
  type KeyChange,
  type KeyVerifier,
  parseKey,
  type VerifiableKey,
  type VerifyOutcome,
  type VerifyRequest,
} from '../index.ts';
import type { FailureLimiter } from './failure-limiter.ts';
import type { KeyCache } from './key-cache.ts';
import type { Meter, MeterDecision } from './meter.ts';
import type { KeyLoader, UsageSink } from './ports.ts';

/** How long a connection's key is taken from its memo before it is looked up again. */
const MEMO_MS = 1000;

interface ConnectionMemo {
  secret: string;
  key: VerifiableKey;
  /** The verifier's epoch when it was made: any key change or trust change since voids it. */
  epoch: number;
  until: number;
}

export class Verifier implements KeyVerifier {
  /** Bumped by every invalidation: a load that began before one is never cached. */
  private epoch = 0;
  /** False while invalidations might be missed (the notification feed is down). */
  private cacheTrusted = true;
  /** Registered prefixes of imported keys (every merchant's): strings starting with one are looked up. */
  private importPrefixes: readonly string[] = [];
  /** Bumped by every announced prefix change: a reload begun before one does not overwrite it. */
  private prefixGeneration = 0;
  private readonly loading = new Map<string, { epoch: number; promise: Promise<VerifiableKey | null> }>();
  /** Per connection, the key it presented last (see verify). */
  private readonly memos = new WeakMap<object, ConnectionMemo>();
  /** Counted for /metrics: lookups answered from memory or the database, and key changes received. */
  readonly stats = { hits: 0, misses: 0, invalidations: 0 };

  constructor(
    private readonly load: KeyLoader,
    private readonly cache: KeyCache,
    private readonly usage: UsageSink | null,
    private readonly limiter: FailureLimiter | null = null,
    private readonly now: () => number = Date.now,
    private readonly meter: Meter | null = null,
  ) {}

  /**
   * `connection`: the connection the request came on (a socket). A kept-alive connection presents
   * the same key request after request; the key found in memory for it is remembered with the
   * connection (for MEMO_MS, and only until any key change or loss of the feed), so the next
   * request on it skips hashing and the cache lookup. Every other check runs as always.
   */
  verify(
    request: VerifyRequest,
    scope?: { merchantId: string },
    connection?: object,
  ): VerifyOutcome | Promise<VerifyOutcome> {
    // One clock reading per verification from memory; a database load takes its own at the end.
    const now = this.now();
    // The address guess limiter counts gateways' and services' verifications only. A merchant
    // verifying its own keys names any `ip` it likes (the gateway's, as a key's lastUsedIp shows):
    // counting those would let one merchant lock every client behind that address out.
    const limiter = scope === undefined ? this.limiter : null;
    if (limiter) {
      const waitMs = limiter.blockedFor(request.ip, now);
      if (waitMs > 0) return { code: 'TOO_MANY_FAILURES', retryAfterSeconds: Math.ceil(waitMs / 1000) };
    }
    // Only the length is checked before hashing (nothing long is hashed). The shape and the
    // checksum are checked for what memory does not know: every hash in memory was put there
    // after its secret passed them, and a secret with that hash is that same secret.
    if (typeof request.key !== 'string') return malformed(limiter, request, now);
    if (request.key.length !== KEY_LENGTH && !this.maybeImported(request.key)) return malformed(limiter, request, now);
    let memo = connection === undefined ? undefined : this.memos.get(connection);
    if (memo !== undefined && memo.secret === request.key && memo.epoch === this.epoch && now < memo.until) {
      this.stats.hits++;
      return this.conclude(memo.key, request, scope, now);
    }
    const hash = hashKey(request.key);
    const cached = this.cacheTrusted ? this.cache.get(hash) : undefined;
    if (cached !== undefined) {
      this.stats.hits++;
      if (connection !== undefined && cached.found) {
        memo = { secret: request.key, key: cached.key, epoch: this.epoch, until: now + MEMO_MS };
        this.memos.set(connection, memo);
      }
      return this.conclude(cached.found ? cached.key : null, request, scope, now);
    }
    if (parseKey(request.key) === null && !this.maybeImported(request.key)) return malformed(limiter, request, now);
    this.stats.misses++;
    return this.loadOnce(hash).then((key) => this.conclude(key, request, scope, this.now()));
  }

  /** Drops what a management change may have made stale (before the change's mutation returns). */
  invalidate(change: KeyChange): void {
    this.stats.invalidations++;
    this.epoch++;
    this.cache.invalidate(change);
    if (change.misses) this.cache.clearMisses();
    const prefixes = change.importPrefixes;
    if (prefixes) {
      this.prefixGeneration++;
      const next = new Set(this.importPrefixes);
      for (const prefix of prefixes.added ?? []) next.add(prefix);
      for (const prefix of prefixes.removed ?? []) next.delete(prefix);
      this.importPrefixes = [...next];
    }
  }

  /**
   * Every registered prefix of imported keys, as the database held them when `generation` (from
   * importPrefixGeneration) was current; ignored if a change was announced since.
   */
  setImportPrefixes(prefixes: readonly string[], generation = this.prefixGeneration): boolean {
    if (generation !== this.prefixGeneration) return false;
    this.importPrefixes = [...new Set(prefixes)];
    return true;
  }

  get importPrefixGeneration(): number {
    return this.prefixGeneration;
  }

  /** Whether a string that is no Keygate key may be an imported one: a registered prefix, a sane length. */
  private maybeImported(key: string): boolean {
    const prefixes = this.importPrefixes;
    if (prefixes.length === 0 || key.length < MIN_IMPORTED_LENGTH || key.length > MAX_IMPORTED_LENGTH) return false;
    for (const prefix of prefixes) if (key.startsWith(prefix)) return true;
    return false;
  }

  /** Entries in the cache: keys, and remembered unknown hashes. */
  cacheSize(): { keys: number; misses: number } {
    return this.cache.size;
  }

  /**
   * While untrusted, every verification loads its key afresh. Each switch starts from an empty
   * cache, unless `keep`: a feed that resumed where it stopped has replayed what was missed.
   */
  setCacheTrusted(trusted: boolean, keep = false): void {
    this.epoch++;
    if (!keep) this.cache.clear();
    this.cacheTrusted = trusted;
  }

  get trusted(): boolean {
    return this.cacheTrusted;
  }

  private conclude(
    key: VerifiableKey | null,
    request: VerifyRequest,
    scope: { merchantId: string } | undefined,
    now: number,
  ): VerifyOutcome | Promise<VerifyOutcome> {
    // For a merchant's own verifications, another merchant's key does not exist.
    if (key === null || (scope !== undefined && key.merchantId !== scope.merchantId)) {
      if (scope === undefined) this.limiter?.fail(request.ip, now);
      return { code: 'NOT_FOUND' };
    }
    const code = decide(key, request, now);
    // Metering last: only a verification that passes everything else consumes anything.
    if (code === 'VALID' && (key.meter !== null || key.identity?.meter) && this.meter !== null) {
      const metered = this.meter.check(key, request.cost ?? 1, now);
      if (metered instanceof Promise) return metered.then((decision) => this.metered(key, request, decision));
      return this.metered(key, request, metered, now);
    }
    this.usage?.record(key.id, code, request.ip ?? null, now, request);
    return { code, key };
  }

  private metered(
    key: VerifiableKey,
    request: VerifyRequest,
    decision: MeterDecision,
    now = this.now(),
  ): VerifyOutcome {
    this.usage?.record(key.id, decision.code, request.ip ?? null, now, request);
    // The decision is this verification's own: it becomes the outcome (no copy on the hot path).
    const outcome = decision as VerifyOutcome;
    outcome.key = key;
    return outcome;
  }

  private loadOnce(hash: string): Promise<VerifiableKey | null> {
    const epoch = this.epoch;
    const running = this.loading.get(hash);
    if (running?.epoch === epoch) return running.promise;
    const promise = this.load(hash).then((key) => {
      if (this.epoch === epoch && this.cacheTrusted) this.cache.set(hash, key);
      return key;
    });
    const entry = { epoch, promise };
    this.loading.set(hash, entry);
    const done = () => {
      if (this.loading.get(hash) === entry) this.loading.delete(hash);
    };
    promise.then(done, done);
    return promise;
  }
}

/** Bounds of an imported key's length: nothing longer is hashed. */
export const MIN_IMPORTED_LENGTH = 16;
export const MAX_IMPORTED_LENGTH = 256;

/** A refusal of something that cannot be a key; it counts as a failure against the address. */
function malformed(limiter: FailureLimiter | null, request: VerifyRequest, now: number): VerifyOutcome {
  limiter?.fail(request.ip, now);
  return { code: 'MALFORMED' };
}
