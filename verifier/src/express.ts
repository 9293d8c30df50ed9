// Express (and Connect, and plain node:http): a middleware that verifies the request's key and
// puts the outcome on `req.keygate`, or answers the refusal itself.
//
//   app.post('/orders', keygate(verifier, { scopes: ['orders:write'] }), (req, res) => …req.keygate.keyId…)
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AdapterOptions,
  adapterOptions,
  answerFields,
  answerHeaders,
  headersOnSuccess,
  keyFromRawHeaders,
  refusalBody,
  STATUS,
  verifyInput,
} from './http.ts';
import type { KeygateVerifier, KeyVerification } from './types.ts';

export type { AdapterOptions, RouteRequirements } from './http.ts';

// Express's Request gains `keygate` (merged into @types/express's global namespace when present).
declare global {
  namespace Express {
    interface Request {
      /** Set by Keygate's middleware once the key verified. */
      keygate?: KeyVerification;
    }
  }
}

export interface KeygateRequest extends IncomingMessage {
  /** Set by the middleware once the key verified. */
  keygate?: KeyVerification;
  /** Express's client address (honours its "trust proxy" setting). */
  ip?: string;
}

export interface ExpressOptions extends AdapterOptions {
  /** The client's address; default Express's req.ip, else the socket's peer. */
  ip?: (req: IncomingMessage) => string | null | undefined;
}

type Next = (error?: unknown) => void;

export function keygate(verifier: KeygateVerifier, options: ExpressOptions = {}) {
  adapterOptions(options, 'keygate (Express)');
  const onSuccess = headersOnSuccess(options);
  return (req: KeygateRequest, res: ServerResponse, next: Next): void => {
    const key = keyFromRawHeaders(req.rawHeaders);
    if (key === null) {
      send(
        res,
        401,
        { 'x-keygate-code': 'MISSING_KEY', 'www-authenticate': 'ApiKey', 'cache-control': 'no-store' },
        {
          valid: false,
          code: 'MISSING_KEY',
        },
      );
      return;
    }
    const ip = options.ip ? options.ip(req) : clientAddress(req);
    const outcome = verifier.verify(verifyInput(key, req.method ?? 'GET', ip, options), req.socket);
    if (outcome instanceof Promise) outcome.then((result) => conclude(req, res, next, result, onSuccess), next);
    else conclude(req, res, next, outcome, onSuccess);
  };
}

/**
 * Express's req.ip, which honours its "trust proxy" setting. With that setting off (Express's
 * default) req.ip is the socket's peer, read here directly: req.ip would parse X-Forwarded-For
 * and make Node build req.headers on every request only to ignore both (3 µs a request).
 */
function clientAddress(req: KeygateRequest): string | undefined {
  const settings = (req as { app?: { settings?: Record<string, unknown> } }).app?.settings;
  if (settings !== undefined && settings['trust proxy'] === false) return req.socket.remoteAddress;
  return req.ip ?? req.socket.remoteAddress;
}

function conclude(
  req: KeygateRequest,
  res: ServerResponse,
  next: Next,
  result: KeyVerification,
  onSuccess: boolean,
): void {
  if (!result.valid) {
    send(res, STATUS[result.code], answerHeaders(result), refusalBody(result));
    return;
  }
  if (onSuccess && (result.rateLimits !== null || result.creditsRemaining !== null)) {
    addWhenAnswered(res, answerFields(result));
  }
  req.keygate = result;
  next();
}

/**
 * Adds header fields to the route's answer as it starts (res.writeHead, which node:http calls for
 * an answer sent without it too), as the `on-headers` package does. Fields the route sets itself,
 * by setHeader or in writeHead, win. Not res.setHeader here: the first field set that way moves
 * node:http's response onto its slower way of writing the head, which cost a plain node:http
 * route a tenth of its throughput in `pnpm bench integration`.
 */
function addWhenAnswered(res: ServerResponse, fields: string[]): void {
  const patched = res as Patched;
  patched[FIELDS] = fields;
  patched[ORIGINAL] = res.writeHead as WriteHead;
  res.writeHead = writeHeadWithFields as ServerResponse['writeHead'];
}

type WriteHead = (status: number, reason?: unknown, headers?: unknown) => ServerResponse;
const FIELDS = Symbol('keygate.fields');
const ORIGINAL = Symbol('keygate.writeHead');
interface Patched extends ServerResponse {
  [FIELDS]: string[];
  [ORIGINAL]: WriteHead;
}

/** One function for every response (no closure made per request): the fields ride on the response. */
function writeHeadWithFields(this: Patched, status: number, reason?: unknown, headers?: unknown): ServerResponse {
  const writeHead = this[ORIGINAL];
  // Once: a second writeHead (which node:http refuses) goes straight through.
  (this as ServerResponse).writeHead = writeHead as ServerResponse['writeHead'];
  // writeHead(status[, reason][, headers])
  if (typeof reason === 'string') return writeHead.call(this, status, reason, mergeFields(this, headers, this[FIELDS]));
  return writeHead.call(this, status, mergeFields(this, reason, this[FIELDS]));
}

/** The route's own fields (an object, a flat list or a list of pairs) and those of ours it did not set. */
function mergeFields(res: ServerResponse, headers: unknown, fields: string[]): unknown {
  let merged: unknown[];
  if (headers === undefined || headers === null) {
    // As Express answers (its fields set by setHeader): ours, less any the route set.
    let all = true;
    for (let i = 0; i < fields.length && all; i += 2) all = !res.hasHeader(fields[i]!);
    if (all) return fields;
    merged = [];
  } else if (Array.isArray(headers)) merged = Array.isArray(headers[0]) ? headers.flat() : [...headers];
  else if (typeof headers === 'object') {
    merged = [];
    for (const name of Object.keys(headers)) merged.push(name, (headers as Record<string, unknown>)[name]);
  } else return headers; // not headers: node:http says why
  for (let i = 0; i < fields.length; i += 2) {
    if (!res.hasHeader(fields[i]!) && !named(merged, fields[i]!)) merged.push(fields[i]!, fields[i + 1]!);
  }
  return merged;
}

/** Whether a flat list of names and values names this (lowercase) field. */
function named(list: unknown[], name: string): boolean {
  for (let i = 0; i < list.length; i += 2) {
    const field = String(list[i]);
    // Lowercased only when it could match: most of a route's fields differ in length.
    if (field.length === name.length && field.toLowerCase() === name) return true;
  }
  return false;
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}
