// Fastify: a preHandler hook that verifies the request's key and puts the outcome on
// `request.keygate`, or answers the refusal.
//
//   app.post('/orders', { preHandler: keygate(verifier, { scopes: ['orders:write'] }) }, async (request) => …)
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

/** What the hook reads of Fastify's request and reply (structural: no dependency on fastify's types). */
export interface FastifyLikeRequest {
  headers: Record<string, string | string[] | undefined>;
  method: string;
  ip: string;
  keygate?: KeyVerification;
  /** Node's request, for its connection. */
  raw?: { socket?: object | null };
}
export interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  headers(values: Record<string, string>): FastifyLikeReply;
  send(body: unknown): FastifyLikeReply;
}

export interface FastifyOptions extends AdapterOptions {
  /** The client's address; default Fastify's request.ip (honours its trustProxy setting). */
  ip?: (request: FastifyLikeRequest) => string | null | undefined;
}

export function keygate(verifier: KeygateVerifier, options: FastifyOptions = {}) {
  adapterOptions(options, 'keygate (Fastify)');
  const onSuccess = headersOnSuccess(options);
  return async (request: FastifyLikeRequest, reply: FastifyLikeReply): Promise<void> => {
    const key = presentedKey(single(request.headers.authorization), single(request.headers['x-api-key']));
    if (key === null) {
      reply
        .code(401)
        .headers({ 'x-keygate-code': 'MISSING_KEY', 'www-authenticate': 'ApiKey', 'cache-control': 'no-store' })
        .send({ valid: false, code: 'MISSING_KEY' });
      return;
    }
    const ip = options.ip ? options.ip(request) : request.ip;
    const result = await verifier.verify(
      verifyInput(key, request.method, ip, options),
      request.raw?.socket ?? undefined,
    );
    if (!result.valid) {
      reply.code(STATUS[result.code]).headers(answerHeaders(result)).send(refusalBody(result));
      return;
    }
    if (onSuccess) reply.headers(answerHeaders(result));
    request.keygate = result;
  };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
