// Failures that are not answers: the request did not reach Keygate, the
// credentials were refused, or the server could not run the operation.
// Expected failures (validation, not found, …) are not thrown: they are the
// `error` side of each mutation's result.

export type RequestErrorCode =
  | 'NETWORK_ERROR'
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

export function toRequestError(error: UrqlLikeError): KeygateRequestError {
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
  return new KeygateRequestError(
    'NETWORK_ERROR',
    `Could not reach Keygate: ${error.networkError?.message ?? error.message}`,
    status,
    { cause: error, requestId },
  );
}
