// What a caller is told when its credentials are missing, refused, or cannot
// be checked right now. One message per case, whatever the reason: the reason
// goes to the log only.
import { GraphQLError } from 'graphql';

/** What a caller without credentials is told. */
export const MISSING_CREDENTIALS =
  'Unauthenticated: send Authorization: Bearer <JWT>, a merchant token your platform signs for this Keygate (or a service token, for verifyKey)';
/**
 * What a caller with rejected credentials is told, whatever the reason: an
 * attacker learns nothing from trying. The reason goes to the server's log,
 * under the request id that the response's X-Request-Id header carries.
 */
export const REJECTED_CREDENTIALS =
  "Unauthenticated: the token was not accepted (the server's log names the reason under this response's X-Request-Id)";

export class AuthenticationError extends GraphQLError {
  /** Why the credentials were refused: for the log, never for the response. */
  readonly reason: string | null;

  constructor(message: typeof MISSING_CREDENTIALS | typeof REJECTED_CREDENTIALS, reason: string | null = null) {
    super(message, {
      extensions: { code: 'UNAUTHENTICATED', http: { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } } },
    });
    this.reason = reason;
  }

  static rejected(reason: string): AuthenticationError {
    return new AuthenticationError(REJECTED_CREDENTIALS, reason);
  }
}

/**
 * The identity provider's key set could not be fetched (unreachable, timed out,
 * not a key set): the token may well be good, so this is not the caller's fault.
 */
export class AuthenticationUnavailableError extends GraphQLError {
  readonly reason: string;

  constructor(reason: string) {
    super(
      "Keygate cannot check tokens right now: the identity provider's keys could not be fetched. Try again shortly.",
      {
        extensions: { code: 'SERVICE_UNAVAILABLE', http: { status: 503, headers: { 'Retry-After': '5' } } },
      },
    );
    this.reason = reason;
  }
}
