// Verification inside the platform's own process: Keygate's engine (the same decide(), key
// cache, guess limiter, metering by reservations and usage batches the server runs) with
// Keygate's HTTP endpoints for verifiers behind its ports. Keys are asked for by the SHA-256
// hash of their secret; the secret never leaves this process.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { globalId, parseIp, type VerifiableKey, type VerifyOutcome, type VerifyRequest } from '@keygate/core';
import {
  FailureLimiter,
  fromRecord,
  isMetered,
  KeyCache,
  type KeyLoader,
  type KeyRecord,
  Meter,
  type MeterStore,
  type RateLimitTexts,
  rateLimitTexts,
  SharedValues,
  type TakeResult,
  UsageBatch,
  type UsageReport,
  Verifier,
} from '@keygate/core/engine';
import { LRUCache } from 'lru-cache';
import { ChangeFeed } from './feed.ts';
import { checkedPermissions } from './requirements.ts';
import { KeygateUnavailable, Transport } from './transport.ts';
import type { KeygateVerifier, KeyVerification, VerifierOptions, VerifierStats, VerifyInput } from './types.ts';

const DEFAULTS = {
  maxKeys: 100_000,
  maxUnknown: 100_000,
  staleIfErrorSeconds: 0,
  failedVerifications: 30,
  failedVerificationsWindowSeconds: 60,
  flushIntervalMs: 5000,
  timeoutMs: 2000,
};

/** Longest a cached key is used without a reload, as a safety net behind the feed (as on the server). */
const CACHE_TTL_MS = 300_000;

export class EmbeddedVerifier implements KeygateVerifier {
  private readonly transport: Transport;
  private readonly engine: Verifier;
  private readonly usage = new UsageBatch();
  private readonly meter: Meter;
  private readonly feed: ChangeFeed;
  /** Keys as last confirmed by Keygate, for staleIfErrorSeconds; invalidated like the cache. */
  private readonly stale: KeyCache | null;
  private readonly staleMs: number;
  private readonly flushTimer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  /** The id usage reports are numbered under, and the number of the last one made. */
  private readonly reporter = `r${crypto.randomUUID().replaceAll('-', '')}`;
  private reports = 0;
  /**
   * Reports taken and numbered but not answered yet, in order, as sent (Keygate may have written
   * the first): one, or the parts of one too large to send whole.
   */
  private unanswered: Part[] = [];
  /** The largest report sent whole; halved when Keygate (or a proxy before it) answers 413. */
  private reportBytes = REPORT_BYTES;
  private readonly usageTimeoutMs: number;
  /** Since when the feed is down (0 while up): stale answers count from here. */
  private feedDownSince = 0;
  private readonly requests = { keys: 0, usage: 0, meter: 0, acks: 0 };
  /** The latest read of the registered prefixes of imported keys. */
  private prefixes: Promise<void> = Promise.resolve();
  private readonly onError: (error: Error) => void;
  private closed = false;

  constructor(options: VerifierOptions) {
    const settings = { ...DEFAULTS, ...definedOnly(options) };
    for (const name of ['maxKeys', 'maxUnknown', 'flushIntervalMs', 'timeoutMs'] as const) {
      if (!Number.isSafeInteger(settings[name]) || settings[name] < 1) {
        throw new TypeError(`createVerifier: ${name} must be a positive integer`);
      }
    }
    for (const name of ['staleIfErrorSeconds', 'failedVerifications', 'failedVerificationsWindowSeconds'] as const) {
      if (!Number.isFinite(settings[name]) || settings[name] < 0) {
        throw new TypeError(`createVerifier: ${name} must be a number of at least 0`);
      }
    }
    this.onError = options.onError ?? warnSparingly();
    this.transport = new Transport(options.url, options.token, settings.timeoutMs);
    this.usageTimeoutMs = Math.max(settings.timeoutMs, USAGE_TIMEOUT_MS);
    this.staleMs = settings.staleIfErrorSeconds * 1000;
    this.stale =
      this.staleMs > 0
        ? new KeyCache({ maxKeys: settings.maxKeys, maxMisses: 1, ttlMs: this.staleMs + CACHE_TTL_MS })
        : null;
    const store: MeterStore = {
      take: async (keyId, _now, credits, limits) => {
        this.requests.meter++;
        return (
          await this.transport.json<{ taken: TakeResult | null }>('POST', '/v1/verifier/meter/take', {
            keyId,
            credits,
            limits,
          })
        ).taken;
      },
      giveBack: async (credits, windows) => {
        this.requests.meter++;
        await this.transport.json('POST', '/v1/verifier/meter/give-back', { credits, windows });
      },
    };
    this.meter = new Meter(store, this.usage, Date.now, (error) => this.onError(error as Error));
    this.meter.start();
    this.engine = new Verifier(
      this.loader(),
      new KeyCache({ maxKeys: settings.maxKeys, maxMisses: settings.maxUnknown, ttlMs: CACHE_TTL_MS }),
      this.usage,
      settings.failedVerifications > 0
        ? new FailureLimiter({
            burst: settings.failedVerifications,
            windowMs: settings.failedVerificationsWindowSeconds * 1000,
            maxClients: 100_000,
          })
        : null,
      Date.now,
      this.meter,
    );
    // Nothing is trusted from memory until the feed says it is connected.
    this.engine.setCacheTrusted(false);
    this.feed = new ChangeFeed(this.transport, {
      trust: (trusted, keep) => {
        if (!trusted && this.feedDownSince === 0) this.feedDownSince = Date.now();
        if (trusted) this.feedDownSince = 0;
        // The prefixes of imported keys: read again whenever the feed (and so their changes) is back.
        if (trusted) this.prefixes = this.refreshPrefixes();
        if (!trusted && !keep) this.stale?.clear();
        this.engine.setCacheTrusted(trusted, keep);
      },
      change: (change) => {
        this.engine.invalidate(change);
        this.stale?.invalidate(change);
      },
      error: (error) => this.onError(error),
    });
    this.feed.start();
    this.flushTimer = setInterval(() => void this.flush(), settings.flushIntervalMs);
    this.flushTimer.unref();
  }

  verify(input: VerifyInput, connection?: object): KeyVerification | Promise<KeyVerification> {
    if (this.closed) return unavailable('the verifier is closed');
    const permissions = input?.requiredPermissions;
    const request: VerifyRequest = {
      key: input?.key,
      ip: typeof input?.ip === 'string' ? canonicalIp(input.ip) : null,
      requiredAccess: input?.requiredAccess ?? null,
      requiredScopes: input?.requiredScopes ?? null,
      // Parsed once per distinct text; a malformed one throws (KeygateRequirementsError).
      requiredPermissions: permissions == null ? null : checkedPermissions(permissions),
      cost: input?.cost ?? null,
    };
    let outcome: VerifyOutcome | Promise<VerifyOutcome>;
    try {
      outcome = this.engine.verify(request, undefined, typeof connection === 'object' ? connection : undefined);
    } catch (error) {
      this.onError(error as Error);
      return unavailable();
    }
    if (outcome instanceof Promise) {
      return outcome.then(toKeyVerification, (error: unknown) => {
        if (!(error instanceof KeygateUnavailable)) this.onError(error as Error);
        return unavailable(undefined, error instanceof KeygateUnavailable ? error.retryAfterSeconds : null);
      });
    }
    return toKeyVerification(outcome);
  }

  async ready(timeoutMs = 10_000): Promise<void> {
    await this.feed.ready(timeoutMs);
    await this.prefixes;
  }

  private async refreshPrefixes(): Promise<void> {
    const generation = this.engine.importPrefixGeneration;
    try {
      const { prefixes } = await this.transport.json<{ prefixes: string[] }>('GET', '/v1/verifier/import-prefixes');
      this.engine.setImportPrefixes(prefixes, generation);
    } catch (error) {
      this.onError(error as Error);
    }
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      // A report whose answer never came may have been written: it is sent again as it was,
      // under its number, which Keygate writes once; only then is what came after it sent.
      for (let round = 0; round < 2; round++) {
        if (this.unanswered.length === 0) {
          const taken = await this.usage.takeInTurns();
          if (taken === null) return;
          this.unanswered = await this.parts(taken.report);
        }
        while (this.unanswered.length > 0) {
          const part = this.unanswered[0]!;
          this.requests.usage++;
          try {
            await this.transport.json('POST', '/v1/verifier/usage', undefined, {
              text: part.text,
              timeoutMs: this.usageTimeoutMs,
            });
            this.unanswered.shift();
          } catch (error) {
            const status = error instanceof KeygateUnavailable ? error.status : null;
            if (status === 413 && part.bytes > MIN_REPORT_BYTES && keysOf(part.report).size > 1) {
              // Too large for Keygate or a proxy before it (nginx takes 1 MB by default): what is
              // left is sent in parts of at most half this size, under new numbers. Nothing of it
              // was written, and a number is only ever used once.
              this.reportBytes = Math.max(MIN_REPORT_BYTES, Math.floor(part.bytes / 2));
              const rest = this.unanswered.map((p) => p.report);
              this.unanswered = await this.parts(rest.length === 1 ? rest[0]! : joined(rest));
              this.onError(
                new Error(
                  `a usage report of ${part.bytes} bytes was refused as too large (413); sending it in ${this.unanswered.length} parts of at most ${this.reportBytes} bytes`,
                ),
              );
              continue;
            }
            // Refused as malformed or too large (one key's rows) it will never be written: dropped, and said.
            if (status === 400 || status === 413) this.unanswered.shift();
            this.onError(error as Error);
            return;
          }
        }
      }
    });
    return this.flushing;
  }

  /** A report as the requests that carry it, numbered: itself, or its keys' rows in parts small enough. */
  private async parts(report: UsageReport): Promise<Part[]> {
    const seq = this.reports + 1;
    const text = await reportText({ ...report, reporter: { id: this.reporter, seq } });
    const bytes = Buffer.byteLength(text);
    const keys = keysOf(report);
    if (bytes <= this.reportBytes || keys.size <= 1) {
      this.reports = seq;
      return [{ report, text, bytes }];
    }
    // Each key's rows stay together, so every part is a whole report about its keys.
    const count = Math.min(keys.size, Math.ceil((bytes / this.reportBytes) * 1.2));
    const parts: Part[] = [];
    for (const piece of split(report, keys, count)) parts.push(...(await this.parts(piece)));
    return parts;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.flushTimer);
    this.feed.close();
    await this.meter.stop(); // gives back what it holds
    await this.flush();
    this.transport.close();
  }

  get stats(): VerifierStats {
    const size = this.engine.cacheSize();
    return {
      hits: this.engine.stats.hits,
      misses: this.engine.stats.misses,
      keys: size.keys,
      unknown: size.misses,
      changes: this.feed.changes,
      feedConnected: this.feed.connected && this.engine.trusted,
      requests: { ...this.requests, acks: this.feed.acks },
    };
  }

  /** Loads by hash from Keygate; with staleIfErrorSeconds, falls back on what Keygate said lately. */
  private loader(): KeyLoader {
    return async (hash) => {
      this.requests.keys++;
      try {
        const answer = await this.transport.json<{ found: boolean; key?: KeyRecord }>(
          'GET',
          `/v1/verifier/keys/${hash}`,
        );
        const key = answer.found && answer.key ? fromRecord(answer.key) : null;
        if (key !== null) this.stale?.set(hash, key);
        return key;
      } catch (error) {
        const stale = this.stale?.get(hash);
        const since = this.feedDownSince === 0 ? Date.now() : this.feedDownSince;
        if (stale?.found && Date.now() - since <= this.staleMs && !isMetered(stale.key)) {
          return stale.key;
        }
        throw error;
      }
    };
  }
}

/** The answer for a key verified with nothing metered: the same every time, so made once (frozen). */
const plainValid = new WeakMap<VerifiableKey, KeyVerification>();
/** Refusals that say nothing but their code (NOT_FOUND, MALFORMED…), made once each. */
const bareRefusals = new Map<string, KeyVerification>();

/** A metered answer, with its key's RateLimit texts kept out of sight (private fields) for the adapters. */
class MeteredVerification implements KeyVerification {
  #texts: RateLimitTexts | undefined;
  #resets: number[] | undefined;
  constructor(
    readonly valid: boolean,
    readonly code: KeyVerification['code'],
    readonly keyId: string | null,
    readonly prefix: string | null,
    readonly applicationId: string | null,
    readonly merchantId: string | null,
    readonly environment: KeyVerification['environment'],
    readonly access: KeyVerification['access'],
    readonly scopes: string[] | null,
    readonly metadata: unknown,
    readonly externalId: string | null,
    readonly identity: KeyVerification['identity'],
    readonly retryAfterSeconds: number | null,
    readonly creditsRemaining: number | null,
    readonly rateLimits: KeyVerification['rateLimits'],
    texts: RateLimitTexts | undefined,
    resets: number[] | undefined,
  ) {
    this.#texts = texts;
    this.#resets = resets;
  }
  static textsOf(result: KeyVerification): RateLimitTexts | undefined {
    return #texts in result ? (result as MeteredVerification).#texts : undefined;
  }
  static resetsOf(result: KeyVerification): number[] | undefined {
    return #resets in result ? (result as MeteredVerification).#resets : undefined;
  }
}

/** The RateLimit texts of a result's key (its policy; each limit's name), for the adapters' headers. */
export const rateLimitTextsOf = (result: KeyVerification): RateLimitTexts | undefined =>
  MeteredVerification.textsOf(result);
/** Each rate limit's window end in ms (what resetAt says as text), for the adapters' headers. */
export const rateLimitResets = (result: KeyVerification): number[] | undefined => MeteredVerification.resetsOf(result);

export function toKeyVerification(outcome: VerifyOutcome): KeyVerification {
  const plain =
    outcome.creditsRemaining === undefined &&
    outcome.rateLimits === undefined &&
    outcome.retryAfterSeconds === undefined;
  if (plain && outcome.code === 'VALID' && outcome.key) return plainOf(outcome.key);
  if (plain && outcome.code !== 'VALID') {
    let result = bareRefusals.get(outcome.code);
    if (result === undefined) {
      result = deepFreeze(verification(outcome));
      bareRefusals.set(outcome.code, result);
    }
    return result;
  }
  // Metered (or with a retry time): the identity and its data come from the key's frozen answer.
  const key = outcome.key;
  const base = outcome.code === 'VALID' && key ? plainOf(key) : null;
  const limits = outcome.rateLimits;
  let resets: number[] | undefined;
  if (limits !== undefined) {
    // The engine's states are this verification's own: their times become ISO text in place.
    resets = new Array(limits.length);
    for (let i = 0; i < limits.length; i++) {
      const limit = limits[i]!;
      resets[i] = limit.resetAt;
      (limit as unknown as { resetAt: string }).resetAt = isoTime(limit.resetAt);
    }
  }
  const texts = limits?.length && key && isMetered(key) ? rateLimitTexts(key) : undefined;
  return new MeteredVerification(
    outcome.code === 'VALID',
    outcome.code,
    base?.keyId ?? null,
    base?.prefix ?? null,
    base?.applicationId ?? null,
    base?.merchantId ?? null,
    base?.environment ?? null,
    base?.access ?? null,
    base?.scopes ?? null,
    base?.metadata ?? null,
    base?.externalId ?? null,
    base?.identity ?? null,
    outcome.retryAfterSeconds ?? null,
    outcome.creditsRemaining ?? null,
    (limits as unknown as KeyVerification['rateLimits']) ?? null,
    texts,
    resets,
  );
}

function plainOf(key: VerifiableKey): KeyVerification {
  let result = plainValid.get(key);
  if (result === undefined) {
    result = deepFreeze(verification({ code: 'VALID', key }));
    plainValid.set(key, result);
    // The answer holds the parsed metadata for as long as the key is cached: the text is not needed again.
    key.metadata = null;
  }
  return result;
}

function verification(outcome: VerifyOutcome): KeyVerification {
  const key = outcome.code === 'VALID' ? outcome.key : undefined;
  return {
    valid: outcome.code === 'VALID',
    code: outcome.code,
    keyId: key ? globalId('ApiKey', key.id) : null,
    prefix: key ? key.prefix : null,
    applicationId: key ? applicationGlobalId(key.applicationId) : null,
    merchantId: key ? key.merchantId : null,
    environment: key ? key.environment : null,
    access: key ? key.access : null,
    // The key's own list (frozen with the answer: nothing in the engine changes it).
    scopes: key ? (key.scopes as string[]) : null,
    metadata: key?.metadata != null ? JSON.parse(key.metadata) : null,
    externalId: key ? key.externalId : null,
    identity: key?.identity
      ? {
          id: globalId('Identity', key.identity.id),
          externalId: key.identity.externalId,
          metadata: key.identity.metadata === null ? null : JSON.parse(key.identity.metadata),
        }
      : null,
    retryAfterSeconds: outcome.retryAfterSeconds ?? null,
    creditsRemaining: outcome.creditsRemaining ?? null,
    rateLimits: null,
  };
}

/**
 * Applications' global ids, made once per application: every cached key's answer held its own
 * copy (80 bytes a key) though a verifier's keys belong to few applications.
 */
const applicationIds = new SharedValues<string>();
const applicationGlobalIdOf = (id: string): string => globalId('Application', id);
const applicationGlobalId = (id: string): string => applicationIds.get(id, applicationGlobalIdOf);

function unavailable(_why?: string, retryAfterSeconds: number | null = 1): KeyVerification {
  return {
    valid: false,
    code: 'UNAVAILABLE',
    keyId: null,
    prefix: null,
    applicationId: null,
    merchantId: null,
    environment: null,
    access: null,
    scopes: null,
    metadata: null,
    externalId: null,
    identity: null,
    retryAfterSeconds: retryAfterSeconds ?? 1,
    creditsRemaining: null,
    rateLimits: null,
  };
}

/**
 * Window ends as ISO text, remembered in a small direct-mapped table: the same few ends recur on
 * every verification, and a Map keyed by these doubles cost 0.3 µs for two limits in a serving API.
 */
const isoEnds = new Float64Array(64).fill(Number.NaN);
const isoTexts: string[] = new Array(64).fill('');
function isoTime(ms: number): string {
  const slot = (ms / 1000) & 63;
  if (isoEnds[slot] === ms) return isoTexts[slot]!;
  const text = new Date(ms).toISOString();
  isoEnds[slot] = ms;
  isoTexts[slot] = text;
  return text;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** Addresses in the canonical form IP rules and usage use (an IPv4-mapped IPv6 address is IPv4). */
const canonical = new LRUCache<string, string | false>({ max: 10_000 });
function canonicalIp(text: string): string | null {
  let known = canonical.get(text);
  if (known === undefined) {
    known = text.length <= 64 ? (parseIp(text)?.toString() ?? false) : false;
    canonical.set(text, known);
  }
  return known === false ? null : known;
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * How long a usage report may take to be written. No verification waits on it, and Keygate took
 * over 2 s (the default timeoutMs) to write one of 20,000 keys on two busy cores; a report that
 * times out is sent again anyway, and written once.
 */
const USAGE_TIMEOUT_MS = 15_000;

/**
 * The largest usage report sent in one request: about 10,000 keys' rows. Larger ones go as parts,
 * so Keygate's 8 MB limit is never reached and its JSON.parse of one stays short (14 ms for 2.8 MB).
 */
const REPORT_BYTES = 4 * 1024 * 1024;
/** The least a proxy's 413 makes the parts; a report of one key's rows is sent whole. */
const MIN_REPORT_BYTES = 16 * 1024;

/** A numbered report as sent (its text), and what it carries, to split again if it is refused as too large. */
interface Part {
  report: UsageReport;
  text: string;
  bytes: number;
}

/** The keys (and identities' pools) a report has rows about. */
function keysOf(report: UsageReport): Map<string, number> {
  const keys = new Map<string, number>();
  const add = (id: string) => {
    if (!keys.has(id)) keys.set(id, keys.size);
  };
  for (const use of report.uses) add(use.id);
  for (const row of report.counts) add(row.key_id);
  for (const row of report.refusals) add(row.key_id);
  for (const row of report.observations ?? []) add(row.key_id);
  return keys;
}

/** A report's rows in `count` reports, each key's rows in one of them. */
function split(report: UsageReport, keys: Map<string, number>, count: number): UsageReport[] {
  const pieces: UsageReport[] = Array.from({ length: count }, () => ({
    uses: [],
    counts: [],
    refusals: [],
    ...(report.observations ? { observations: [] } : {}),
  }));
  const of = (id: string) => pieces[keys.get(id)! % count]!;
  for (const use of report.uses) of(use.id).uses.push(use);
  for (const row of report.counts) of(row.key_id).counts.push(row);
  for (const row of report.refusals) of(row.key_id).refusals.push(row);
  for (const row of report.observations ?? []) of(row.key_id).observations!.push(row);
  return pieces;
}

/** Reports' rows as one report (they are about different keys: the parts of one report). */
function joined(reports: UsageReport[]): UsageReport {
  const observed = reports.some((report) => report.observations);
  const all: UsageReport = { uses: [], counts: [], refusals: [], ...(observed ? { observations: [] } : {}) };
  for (const report of reports) {
    for (const use of report.uses) all.uses.push(use);
    for (const row of report.counts) all.counts.push(row);
    for (const row of report.refusals) all.refusals.push(row);
    for (const row of report.observations ?? []) all.observations!.push(row);
  }
  return all;
}

/** Rows made into text between two turns of the event loop. */
const SLICE = 1000;

/**
 * A usage report as JSON, made a slice of rows at a time with the API's own requests let in
 * between: one JSON.stringify of 7,500 keys' report held the event loop of the API this verifier
 * runs in for 6 to 15 ms.
 */
async function reportText(report: UsageReport): Promise<string> {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(report)) {
    if (!Array.isArray(value)) {
      parts.push(`${JSON.stringify(name)}:${JSON.stringify(value)}`);
      continue;
    }
    const rows: string[] = [];
    for (let i = 0; i < value.length; i += SLICE) {
      if (i > 0) await nextTurn();
      rows.push(JSON.stringify(value.slice(i, i + SLICE)).slice(1, -1));
    }
    parts.push(`${JSON.stringify(name)}:[${rows.join(',')}]`);
  }
  return `{${parts.join(',')}}`;
}

/** The default onError: one line per kind of problem a minute, so an outage does not flood the log. */
function warnSparingly(): (error: Error) => void {
  const last = new Map<string, number>();
  return (error) => {
    const kind = `${error.name}:${error.message.slice(0, 40)}`;
    const now = Date.now();
    if ((last.get(kind) ?? 0) > now - 60_000) return;
    last.set(kind, now);
    if (last.size > 100) last.clear();
    console.warn(`keygate verifier: ${error.message}`);
  };
}
