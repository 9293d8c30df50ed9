// Hono: a middleware on Web Requests that verifies the key and sets `c.get('keygate')`, or
// answers the refusal. On Node (@hono/node-server) the client address is the socket's.
//
//   app.post('/orders', keygate(verifier, { scopes: ['orders:write'] }), (c) => c.json(c.get('keygate')))
import {
  type AdapterOptions,
  adapterOptions,
  answerHeaders,
  headersOnSuccess,
  presentedKey,
  refusalBody,
  STATUS,
  verifyInput,
} from './http.ts';
import type { KeygateVerifier, KeyVerification } from './types.ts';

export type { AdapterOptions, RouteRequirements } from './http.ts';

/** What the middleware uses of Hono's Context (structural: no dependency on hono's types). */
export interface HonoLikeContext {
  req: { raw: Request; method: string; header(name: string): string | undefined };
  env?: unknown;
  set(key: 'keygate', value: KeyVerification): void;
  header(name: string, value: string): void;
}

/** Declares `c.get('keygate')` for apps: `new Hono<KeygateEnv>()`. */
export interface KeygateEnv {
  Variables: { keygate: KeyVerification };
}

export interface HonoOptions extends AdapterOptions {
  /** The client's address; default the Node socket's peer under @hono/node-server, else none. */
  ip?: (c: HonoLikeContext) => string | null | undefined;
}

export function keygate(verifier: KeygateVerifier, options: HonoOptions = {}) {
  adapterOptions(options, 'keygate (Hono)');
  const onSuccess = headersOnSuccess(options);
  return async (c: HonoLikeContext, next: () => Promise<void>): Promise<Response | undefined> => {
    const key = presentedKey(c.req.header('authorization'), c.req.header('x-api-key'));
    if (key === null) {
      return json(
        401,
        { 'x-keygate-code': 'MISSING_KEY', 'www-authenticate': 'ApiKey', 'cache-control': 'no-store' },
        {
          valid: false,
          code: 'MISSING_KEY',
        },
      );
    }
    const ip = options.ip ? options.ip(c) : nodePeer(c.env);
    const result = await verifier.verify(verifyInput(key, c.req.method, ip, options));
    if (!result.valid) return json(STATUS[result.code], answerHeaders(result), refusalBody(result));
    c.set('keygate', result);
    await next();
    if (onSuccess) {
      const headers = answerHeaders(result);
      for (const name in headers) c.header(name, headers[name]!);
    }
    return undefined;
  };
}

function json(status: number, headers: Record<string, string>, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...headers, 'content-type': 'application/json' } });
}

/** @hono/node-server passes the Node request as env.incoming. */
function nodePeer(env: unknown): string | undefined {
  const incoming = (env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress;
}
