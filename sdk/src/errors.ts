// Failures that are not answers: the request did not reach Keygate, the
// credentials were refused, or the server could not run the operation.
// Expected failures (validation, not found, …) are not thrown: they are the
// `error` side of each mutation's result.

export type RequestErrorCode =
  | 'NETWORK_ERROR'
  | 'INVALID_TOKEN'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'SERVICE_UNAVAILABLE'
  | 'BAD_USER_INPUT'
  | 'INTERNAL_SERVER_ERROR'
  | 'GRAPHQL_ERROR';

export class KeygateRequestError extends Error {
  override name = 'KeygateRequestError';
  constructor(
    readonly code: RequestErrorCode,
    message: string,
    /** HTTP status of the response, when there was one. */
    readonly status: number | undefined,
    options?: { cause?: unknown; requestId?: string | null },
  ) {
    super(message, options);
    this.requestId = options?.requestId ?? null;
  }

  /** The id Keygate logged this request under (its `X-Request-Id`): quote it when asking why. */
  readonly requestId: string | null;
}

interface UrqlLikeError {
  message: string;
  networkError?: Error;
  graphQLErrors: { message: string; extensions?: Record<string, unknown> }[];
  response?: { status?: number; headers?: { get(name: string): string | null } };
}

const KNOWN: ReadonlySet<string> = new Set([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'SERVICE_UNAVAILABLE',
  'BAD_USER_INPUT',
  'INTERNAL_SERVER_ERROR',
]);

/** RFC 6750's b64token: what a bearer token (a JWT among them) is made of. */
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Refuses a token that cannot be sent as a bearer token, before any request,
 * and without repeating it (it is a credential; error messages end up in logs).
 */
export function checkToken(token: string): void {
  if (BEARER_TOKEN.test(token)) return;
  const why =
    token === ''
      ? 'is empty'
      : /^bearer\s/i.test(token)
        ? 'starts with "Bearer ": pass the token alone, the client adds the scheme'
        : /[\s\p{Cc}]/u.test(token)
          ? `contains whitespace or control characters (the first at position ${token.search(/[\s\p{Cc}]/u)}), as when a command's other output was captured with it`
          : 'contains characters a bearer token cannot hold';
  throw new KeygateRequestError('INVALID_TOKEN', `The token ${why}.`, undefined);
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (ECONNREFUSED): is Keygate running, on this host and port?',
  ENOTFOUND: 'the host name could not be resolved (ENOTFOUND)',
  EAI_AGAIN: 'the host name could not be resolved right now (EAI_AGAIN)',
  ECONNRESET: 'the connection was reset (ECONNRESET)',
  ETIMEDOUT: 'the connection timed out (ETIMEDOUT)',
  EHOSTUNREACH: 'the host is unreachable (EHOSTUNREACH)',
  CERT_HAS_EXPIRED: "the server's TLS certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's TLS certificate is self-signed",
};

/** Why a request got no GraphQL answer, in words, from the error's cause chain or the HTTP status. */
function unreachable(url: string, error: UrqlLikeError, status: number | undefined): string {
  if (status === 404) {
    const endpoint = new URL(url);
    const hint = endpoint.pathname.endsWith('/graphql')
      ? ''
      : `: Keygate's GraphQL endpoint is /graphql (${new URL('/graphql', endpoint).href})`;
    return `Could not reach Keygate at ${url}: it answered 404 Not Found${hint}`;
  }
  if (status !== undefined) return `Could not reach Keygate at ${url}: it answered HTTP ${status}, not GraphQL`;
  let cause: unknown = error.networkError;
  while (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string')
      return `Could not reach Keygate at ${url}: ${REASONS[code] ?? `${cause.message} (${code})`}`;
    cause = cause.cause;
  }
  return `Could not reach Keygate at ${url}: ${error.networkError?.message ?? error.message}`;
}

export function toRequestError(error: UrqlLikeError, url: string): KeygateRequestError {
  // Thrown by the client itself before sending (a token refused up front).
  if (error.networkError instanceof KeygateRequestError) return error.networkError;
  const status = error.response?.status;
  const requestId = error.response?.headers?.get('x-request-id') ?? null;
  const first = error.graphQLErrors[0];
  if (first) {
    const code = String(first.extensions?.code ?? '');
    return new KeygateRequestError(
      KNOWN.has(code) ? (code as RequestErrorCode) : 'GRAPHQL_ERROR',
      first.message,
      status,
      { cause: error, requestId },
    );
  }
  if (status === 401)
    return new KeygateRequestError('UNAUTHENTICATED', 'Keygate refused the token', status, { cause: error, requestId });
  if (status === 403)
    return new KeygateRequestError('FORBIDDEN', 'This token may not do that', status, { cause: error, requestId });
  return new KeygateRequestError('NETWORK_ERROR', unreachable(url, error, status), status, { cause: error, requestId });
}
