// The endpoints embedded verifiers (@keygate/verifier) speak to, for service tokens only
// (`keygate_role: verifier`); a merchant token gets 403. docs/verification.md describes them.
//
//   GET  /v1/verifier/keys/<sha256 hex>  a key's verification record by the hash of its secret
//   GET  /v1/verifier/changes?session=…  the change feed (Server-Sent Events; Last-Event-ID resumes)
//   POST /v1/verifier/ack                {session, seq}: changes up to seq are applied
//   POST /v1/verifier/usage              one flush of usage (UsageReport)
//   GET  /v1/verifier/import-prefixes    the registered prefixes of imported keys {prefixes}
//   POST /v1/verifier/meter/take         a metering reservation {keyId, credits, limits}
//   POST /v1/verifier/meter/give-back    what a verifier no longer needs {credits, windows}
//
// Every body is size-limited and every caller rate-limited (per token subject); a verifier never
// sends a key's secret, and nothing here ever returns one.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { isScope, METERING_BOUNDS, VERIFY_CODES } from '@keygate/core';
import { ADDRESSES_KEPT, type MeterStore, type UsageReport } from '@keygate/core/engine';
import { LRUCache } from 'lru-cache';
import type { Authenticator } from '../auth/authenticator.ts';
import { AuthenticationError } from '../auth/errors.ts';
import type { FeedHub } from '../verification/feed.ts';
import type { RecordLoader } from '../verification/key-loader.ts';
import { readBody, sendJson } from './json.ts';

export interface VerifierApiOptions {
  authenticate: Authenticator;
  records: RecordLoader;
  /** Every registered prefix of imported keys (all merchants'). */
  importPrefixes: () => Promise<string[]>;
  feed: FeedHub;
  /** Whether this instance hears every change (its own feed from PostgreSQL is up). */
  feedConnected: () => boolean;
  meterStore: MeterStore;
  /** Writes a report; 'written before' when it is one whose number its reporter already sent. */
  writeUsage: (report: UsageReport) => Promise<'written' | 'written before'>;
  clock: () => number;
  /** Key lookups per second per token (a burst of twice that). */
  lookupsPerSecond: number;
  onError: (error: unknown) => void;
}

const HASH = /^[0-9a-f]{64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A metering pool: a key's (its id), or an identity's shared one ("identity:" and its id). */
const POOL = /^(?:identity:)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SESSION = /^[A-Za-z0-9_-]{8,64}$/;
const SMALL_BODY = 16 * 1024;
/** One flush of usage: up to ~20,000 keys' counts and refusals. */
const USAGE_BODY = 8 * 1024 * 1024;
const MAX_ROWS = 100_000;
const CODES = new Set<string>(VERIFY_CODES);

class BadRequest extends Error {}

/** Token buckets per token subject and kind of request. */
class Buckets {
  private readonly buckets = new LRUCache<string, { tokens: number; at: number }>({ max: 10_000 });
  take(id: string, perSecond: number, now: number): number {
    const burst = perSecond * 2;
    const bucket = this.buckets.get(id) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * perSecond) / 1000);
    bucket.at = now;
    this.buckets.set(id, bucket);
    if (bucket.tokens < 1) return Math.ceil(((1 - bucket.tokens) * 1000) / perSecond / 1000);
    bucket.tokens -= 1;
    return 0;
  }
}

export function createVerifierApi(options: VerifierApiOptions) {
  const buckets = new Buckets();
  const rates = {
    keys: options.lookupsPerSecond,
    prefixes: 5,
    changes: 5,
    ack: 1000,
    usage: 20,
    take: options.lookupsPerSecond,
    giveBack: 50,
  };

  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    let principal: Awaited<ReturnType<Authenticator>>;
    try {
      principal = await options.authenticate(req.headers.authorization ?? null);
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      return refuse(res, 401, 'UNAUTHENTICATED', 'the service token was refused');
    }
    if (principal === null)
      return refuse(res, 401, 'UNAUTHENTICATED', 'send a service token: Authorization: Bearer <token>');
    if (principal.kind !== 'verifier') {
      return refuse(
        res,
        403,
        'FORBIDDEN',
        'these endpoints are for service tokens (keygate_role: verifier), not merchant tokens',
      );
    }
    const route = routeOf(req.method ?? 'GET', path);
    if (route === null) return refuse(res, 404, 'NOT_FOUND', `no such verifier endpoint: ${req.method} ${path}`);
    const wait = buckets.take(`${principal.subject ?? ''}\u0000${route}`, rates[route], options.clock());
    if (wait > 0) {
      res.setHeader('retry-after', String(wait));
      return refuse(res, 429, 'RATE_LIMITED', `too many ${route} requests for this token; try again in ${wait} s`);
    }
    try {
      switch (route) {
        case 'keys': {
          const hash = path.slice('/v1/verifier/keys/'.length);
          if (!HASH.test(hash))
            throw new BadRequest('the key is named by the SHA-256 hash of its secret, as 64 lowercase hex digits');
          const record = await options.records(hash);
          return sendJson(res, 200, record === null ? { found: false } : { found: true, key: record });
        }
        case 'prefixes':
          return sendJson(res, 200, { prefixes: await options.importPrefixes() });
        case 'changes': {
          const session = new URL(req.url ?? '', 'http://x').searchParams.get('session') ?? '';
          if (!SESSION.test(session)) throw new BadRequest('session: 8 to 64 letters, digits, "-" or "_"');
          if (!options.feedConnected()) {
            res.setHeader('retry-after', '1');
            return refuse(res, 503, 'UNAVAILABLE', 'this instance is not hearing key changes right now; try again');
          }
          const last = req.headers['last-event-id'];
          if (!options.feed.subscribe(res, session, typeof last === 'string' ? last : null)) {
            res.setHeader('retry-after', '5');
            return refuse(res, 503, 'UNAVAILABLE', 'this instance has as many verifiers connected as it takes');
          }
          return;
        }
        case 'ack': {
          const body = await json(req, SMALL_BODY);
          const session = field(body, 'session');
          const seq = (body as { seq?: unknown }).seq;
          if (typeof session !== 'string' || !SESSION.test(session) || !Number.isSafeInteger(seq)) {
            throw new BadRequest('expected {"session": "<the feed session>", "seq": <integer>}');
          }
          // An unknown session was cut (or never connected): it is told to drop its cache.
          return sendJson(res, 200, { ok: options.feed.ack(session, seq as number) });
        }
        case 'usage': {
          const report = await usageReport(await json(req, USAGE_BODY));
          // Reporters are told apart per token: one token's verifiers cannot skip another's reports.
          if (report.reporter) report.reporter.id = `${principal.subject ?? ''}/${report.reporter.id}`;
          const written = await options.writeUsage(report);
          return sendJson(res, 200, { ok: true, duplicate: written === 'written before' });
        }
        case 'take': {
          const body = (await json(req, SMALL_BODY)) as Record<string, unknown>;
          const keyId = body.keyId;
          if (typeof keyId !== 'string' || !POOL.test(keyId))
            throw new BadRequest('keyId: the key\u2019s id as a UUID, or "identity:" and an identity\u2019s');
          const credits = body.credits === null || body.credits === undefined ? null : amount(body.credits, 'credits');
          if (!Array.isArray(body.limits) || body.limits.length > METERING_BOUNDS.maxRateLimits) {
            throw new BadRequest(`limits: a list of at most ${METERING_BOUNDS.maxRateLimits}`);
          }
          const limits = body.limits.map((limit: unknown, i) => {
            const name = field(limit, 'name');
            if (typeof name !== 'string' || name.length > 200) throw new BadRequest(`limits[${i}].name: a string`);
            return { name, ...amount(limit, `limits[${i}]`) };
          });
          // Keygate's clock decides windows and refills, whatever the verifier's says.
          const taken = await options.meterStore.take(keyId, options.clock(), credits, limits);
          return sendJson(res, 200, { taken });
        }
        case 'giveBack': {
          const body = (await json(req, SMALL_BODY * 16)) as Record<string, unknown>;
          const credits = list(body.credits, 'credits').map((c, i) => ({
            id: uuid(c, `credits[${i}].id`),
            epoch: int(field(c, 'epoch'), `credits[${i}].epoch`),
            n: int(field(c, 'n'), `credits[${i}].n`, METERING_BOUNDS.maxCredits),
          }));
          const windows = list(body.windows, 'windows').map((w, i) => ({
            id: uuid(w, `windows[${i}].id`),
            name: String(field(w, 'name')).slice(0, 200),
            start: int(field(w, 'start'), `windows[${i}].start`, Number.MAX_SAFE_INTEGER),
            n: int(field(w, 'n'), `windows[${i}].n`, METERING_BOUNDS.maxLimit),
          }));
          await options.meterStore.giveBack(credits, windows);
          return sendJson(res, 200, { ok: true });
        }
      }
    } catch (error) {
      if (error instanceof BadRequest)
        return refuse(res, error.message === TOO_LARGE ? 413 : 400, 'BAD_REQUEST', error.message);
      options.onError(error);
      if (!res.headersSent) return refuse(res, 503, 'UNAVAILABLE', 'Keygate could not answer; try again');
      res.end();
    }
  };
}

type Route = 'keys' | 'prefixes' | 'changes' | 'ack' | 'usage' | 'take' | 'giveBack';

function routeOf(method: string, path: string): Route | null {
  if (method === 'GET' && path.startsWith('/v1/verifier/keys/')) return 'keys';
  if (method === 'GET' && path === '/v1/verifier/changes') return 'changes';
  if (method === 'GET' && path === '/v1/verifier/import-prefixes') return 'prefixes';
  if (method !== 'POST') return null;
  switch (path) {
    case '/v1/verifier/ack':
      return 'ack';
    case '/v1/verifier/usage':
      return 'usage';
    case '/v1/verifier/meter/take':
      return 'take';
    case '/v1/verifier/meter/give-back':
      return 'giveBack';
  }
  return null;
}

function refuse(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: message, code });
}

const TOO_LARGE = 'the body is too large';

async function json(req: IncomingMessage, max: number): Promise<unknown> {
  // A declared length over the limit is refused before reading anything.
  if (Number(req.headers['content-length'] ?? 0) > max) throw new BadRequest(TOO_LARGE);
  const body = await readBody(req, max);
  if (body === null) throw new BadRequest(TOO_LARGE);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new BadRequest('the body is not JSON');
  }
}

const field = (value: unknown, name: string): unknown =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;

function int(value: unknown, name: string, max = 2 ** 31 - 1): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > max) {
    throw new BadRequest(`${name}: an integer from 0 to ${max}`);
  }
  return value as number;
}

/** A metering pool's id: a key's UUID, or "identity:" and an identity's. */
function uuid(value: unknown, name: string): string {
  const id = field(value, 'id');
  if (typeof id !== 'string' || !POOL.test(id)) throw new BadRequest(`${name}: a UUID (or "identity:" and one)`);
  return id;
}

function list(value: unknown, name: string, max = 10_000): unknown[] {
  if (!Array.isArray(value) || value.length > max) throw new BadRequest(`${name}: a list of at most ${max}`);
  return value;
}

function amount(value: unknown, name: string): { need: number; want: number } {
  const need = int(field(value, 'need'), `${name}.need`, METERING_BOUNDS.maxCredits);
  const want = int(field(value, 'want'), `${name}.want`, METERING_BOUNDS.maxCredits);
  return { need, want };
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const optionalIp = (value: unknown): value is string | null =>
  value === null || (typeof value === 'string' && value.length <= 64);
/** The address as stored: what no address column holds (over 45 characters, longer than any IP) is none. */
const storedIp = (ip: string | null): string | null => (ip !== null && ip.length <= 45 ? ip : null);

/**
 * Checks a verifier's usage report field by field; the database takes nothing it did not expect.
 * A report can hold 100,000 rows: they are checked in slices, with other requests let in between
 * (7,500 keys' report took 20 ms to check, all of it one block of this instance's event loop).
 */
async function usageReport(body: unknown): Promise<UsageReport> {
  const uses = list(field(body, 'uses'), 'uses', MAX_ROWS);
  const counts = list(field(body, 'counts'), 'counts', MAX_ROWS);
  const refusals = list(field(body, 'refusals'), 'refusals', MAX_ROWS);
  // Absent from verifiers older than observations: nothing observed.
  const observed = field(body, 'observations');
  const observations = observed === undefined ? [] : list(observed, 'observations', MAX_ROWS);
  if (uses.length + counts.length + refusals.length + observations.length > MAX_ROWS)
    throw new BadRequest(`at most ${MAX_ROWS} rows in one report`);
  // Absent from verifiers older than numbered reports: written as it comes.
  const from = field(body, 'reporter');
  let reporter: UsageReport['reporter'];
  if (from !== undefined) {
    const id = field(from, 'id');
    if (typeof id !== 'string' || !SESSION.test(id))
      throw new BadRequest('reporter.id: 8 to 64 letters, digits, "-" or "_"');
    reporter = { id, seq: int(field(from, 'seq'), 'reporter.seq') };
  }
  return {
    ...(reporter ? { reporter } : {}),
    observations: await inSlices(observations, (o, i) => {
      const hour = field(o, 'hour');
      if (typeof hour !== 'string' || !ISO.test(hour)) throw new BadRequest(`observations[${i}]: hour is an ISO time`);
      return {
        key_id: uuidOf(field(o, 'key_id'), `observations[${i}].key_id`),
        hour,
        read: int(field(o, 'read'), `observations[${i}].read`),
        write: int(field(o, 'write'), `observations[${i}].write`),
        scopes: countsOf(field(o, 'scopes'), `observations[${i}].scopes`, isScope, 200),
        valid_networks: countsOf(
          field(o, 'valid_networks'),
          `observations[${i}].valid_networks`,
          isNetwork,
          ADDRESSES_KEPT,
        ),
        refused_networks: countsOf(
          field(o, 'refused_networks'),
          `observations[${i}].refused_networks`,
          isNetwork,
          ADDRESSES_KEPT,
        ),
      };
    }),
    uses: await inSlices(uses, (u, i) => {
      const at = field(u, 'at');
      const ip = field(u, 'ip');
      const epoch = field(u, 'epoch');
      if ((at !== null && (typeof at !== 'string' || !ISO.test(at))) || !optionalIp(ip)) {
        throw new BadRequest(`uses[${i}]: at is an ISO time or null, ip an address or null`);
      }
      return {
        id: uuid(u, `uses[${i}].id`),
        at: at as string | null,
        ip: storedIp(ip as string | null),
        epoch: epoch === null ? null : int(epoch, `uses[${i}].epoch`),
        spent: int(field(u, 'spent'), `uses[${i}].spent`, METERING_BOUNDS.maxCredits),
      };
    }),
    counts: await inSlices(counts, (c, i) => {
      const hour = field(c, 'hour');
      const code = field(c, 'code');
      if (typeof hour !== 'string' || !ISO.test(hour) || typeof code !== 'string' || !CODES.has(code)) {
        throw new BadRequest(`counts[${i}]: hour is an ISO time, code a verification code`);
      }
      return {
        key_id: uuidOf(field(c, 'key_id'), `counts[${i}].key_id`),
        hour,
        code: code as UsageReport['counts'][number]['code'],
        count: int(field(c, 'count'), `counts[${i}].count`),
      };
    }),
    refusals: await inSlices(refusals, (r, i) => {
      const at = field(r, 'at');
      const code = field(r, 'code');
      const ip = field(r, 'ip');
      if (typeof at !== 'string' || !ISO.test(at) || typeof code !== 'string' || !CODES.has(code) || !optionalIp(ip)) {
        throw new BadRequest(`refusals[${i}]: at is an ISO time, code a verification code, ip an address or null`);
      }
      return {
        key_id: uuidOf(field(r, 'key_id'), `refusals[${i}].key_id`),
        at,
        code: code as UsageReport['refusals'][number]['code'],
        ip: storedIp(ip as string | null),
      };
    }),
  };
}

/** A network as observations name them (networkOf): an IPv4 /24 or IPv6 /48. */
const isNetwork = (text: string) => text.length <= 48 && /^[0-9a-f.:]+\/(24|48)$/.test(text);

/** Rows checked between two turns of the event loop. */
const SLICE = 1000;

/** `list.map(check)`, letting other requests in after every SLICE rows. */
async function inSlices<T>(list: unknown[], check: (row: unknown, i: number) => T): Promise<T[]> {
  const checked: T[] = [];
  for (let i = 0; i < list.length; i++) {
    if (i > 0 && i % SLICE === 0) await nextTurn();
    checked.push(check(list[i], i));
  }
  return checked;
}

/** An object of names (each passing `valid`) to counts, at most `max` of them. */
function countsOf(value: unknown, name: string, valid: (text: string) => boolean, max: number): Record<string, number> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BadRequest(`${name}: an object`);
  const entries = Object.entries(value);
  if (entries.length > max) throw new BadRequest(`${name}: at most ${max} entries`);
  const out: Record<string, number> = {};
  for (const [key, count] of entries) {
    if (!valid(key)) throw new BadRequest(`${name}: "${key.slice(0, 64)}" is not one`);
    out[key] = int(count, `${name}.${key}`);
  }
  return out;
}

function uuidOf(value: unknown, name: string): string {
  if (typeof value !== 'string' || !UUID.test(value)) throw new BadRequest(`${name}: a UUID`);
  return value;
}
