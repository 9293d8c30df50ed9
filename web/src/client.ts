// The dashboard's GraphQL client: urql over /graphql with the session's token. A refused
// token ends the session (the sign-in screen then says why); every other failure is left to
// the screen that asked, described by the SDK's own request errors.
import { type KeygateRequestError, toRequestError } from '@keygate/sdk';
import { startTransition } from 'react';
import { Client, type CombinedError, cacheExchange, type Exchange, fetchExchange, mapExchange } from 'urql';
import { currentToken, signOut } from './session.ts';

export const GRAPHQL_URL = '/graphql';

export function createClient(): Client {
  return new Client({
    url: GRAPHQL_URL,
    requestPolicy: 'cache-and-network',
    preferGetMethod: false,
    fetchOptions: () => {
      const token = currentToken();
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      return { headers };
    },
    exchanges: [
      inTransitions,
      cacheExchange,
      mapExchange({
        onError(error) {
          if (describe(error).code === 'UNAUTHENTICATED') signOut(currentToken() ? 'rejected' : null);
        },
      }),
      fetchExchange,
    ],
  });
}

/**
 * Results reach the screens as transitions: React renders a page of rows in slices and stays
 * responsive to typing and clicks meanwhile, instead of one long task per result (measured with
 * Lighthouse on the keys list: total blocking time). A wonka source is `(sink) => void`; a
 * signal that is an object with tag 1 is a pushed value.
 */
const inTransitions: Exchange =
  ({ forward }) =>
  (operations) =>
  (sink) =>
    forward(operations)((signal) => {
      if (typeof signal === 'object' && signal.tag === 1) startTransition(() => sink(signal));
      else sink(signal);
    });

export function describe(error: CombinedError): KeygateRequestError {
  return toRequestError(error, new URL(GRAPHQL_URL, window.location.href).href);
}

/** What to tell the user about a failed request, in one sentence. */
export function explain(error: CombinedError): string {
  const request = describe(error);
  if (request.code === 'NETWORK_ERROR') {
    if (!navigator.onLine) return 'You are offline: reconnect, then try again.';
    if (request.status !== undefined && request.status >= 500)
      return `Keygate answered with a server error (HTTP ${request.status}). Try again in a moment.`;
    return 'Keygate could not be reached. Check your connection, then try again.';
  }
  if (request.code === 'INTERNAL_SERVER_ERROR' || request.code === 'SERVICE_UNAVAILABLE') {
    const id = request.requestId ? ` (request ${request.requestId})` : '';
    return `Keygate could not do this right now${id}. Try again in a moment.`;
  }
  return request.message;
}
