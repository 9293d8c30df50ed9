// Builds each GraphQL request's context: who is calling, and the services the
// resolvers use.

import type { IncomingMessage } from 'node:http';
import type { KeyVerifier } from '@keygate/core';
import type { Context, KeyChangeListener, SchemaSettings, Viewer } from '@keygate/services';
import type { PrismaClient } from '@keygate/services/prisma';
import { LRUCache } from 'lru-cache';
import { type Authenticator, BAD_SIGNATURE, type Principal } from '../auth/authenticator.ts';
import { AuthenticationError, AuthenticationUnavailableError } from '../auth/errors.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import { clientIp, TrustedProxies } from '../verification/client-ip.ts';
import { requestIdOf } from './plugins/request-ids.ts';

export interface ContextServices {
  prisma: PrismaClient;
  authenticate: Authenticator;
  settings: SchemaSettings;
  /** Spreads key changes to verification caches; noKeyChanges where there are none. */
  keyChanges: KeyChangeListener;
  verifier?: KeyVerifier;
  /** Whose forwarding headers give the client address recorded in the audit trail. */
  trustedProxies?: TrustedProxies;
  /** Where refused credentials are logged with their reason; silent when absent. */
  logger?: Logger;
  /** Added to the log line of a token with a bad signature (development: which secret signs them). */
  signatureHint?: string;
}

/** Who sent a request, checked once: the same promise for every step that asks. */
export type RequestPrincipal = (request: Request, req?: IncomingMessage) => Promise<Principal | null>;

/**
 * Checks a request's credentials once (before its document is parsed, see
 * plugins/require-authentication.ts) and logs why refused ones were refused.
 */
export function createRequestPrincipal(services: ContextServices): RequestPrincipal {
  const proxies = services.trustedProxies ?? new TrustedProxies([]);
  const logger = services.logger ?? silentLogger;
  const known = new WeakMap<Request, Promise<Principal | null>>();
  return (request, req) => {
    let principal = known.get(request);
    if (principal === undefined) {
      principal = services.authenticate(request.headers.get('authorization')).catch((error: unknown) => {
        const ip = req ? clientIpOf(request, req, proxies) : null;
        if (error instanceof AuthenticationError) {
          const hint = error.reason === BAD_SIGNATURE ? services.signatureHint : undefined;
          logger.info(
            { requestId: requestIdOf(request), clientIp: ip, reason: error.reason, ...(hint ? { hint } : {}) },
            'credentials refused',
          );
        } else if (error instanceof AuthenticationUnavailableError) {
          logger.warn(
            { requestId: requestIdOf(request), reason: error.reason },
            "the identity provider's keys could not be fetched",
          );
        }
        throw error;
      });
      known.set(request, principal);
    }
    return principal;
  };
}

function clientIpOf(request: Request, req: IncomingMessage, proxies: TrustedProxies): string | null {
  return clientIp(
    req.socket.remoteAddress,
    {
      xff: request.headers.get('x-forwarded-for') ?? undefined,
      realIp: request.headers.get('x-real-ip') ?? undefined,
    },
    proxies,
  );
}

export function createContextFactory(services: ContextServices, principalOf: RequestPrincipal) {
  const merchants = new KnownMerchants(services.prisma);
  const proxies = services.trustedProxies ?? new TrustedProxies([]);
  return async ({ request, req }: { request: Request; req?: IncomingMessage }): Promise<Context> => {
    const principal = await principalOf(request, req);
    const viewer =
      principal?.kind === 'merchant' ? { merchantId: principal.merchantId, subject: principal.subject } : null;
    if (viewer) await merchants.ensure(viewer);
    return {
      prisma: services.prisma,
      viewer,
      service: principal?.kind === 'verifier' ? { subject: principal.subject } : null,
      settings: services.settings,
      keyChanges: services.keyChanges,
      verifier: services.verifier,
      request: {
        id: requestIdOf(request),
        ip: req ? clientIpOf(request, req, proxies) : null,
        headers: request.headers,
      },
    };
  };
}

/** Creates a merchant's row the first time it is seen, without a write per request. */
class KnownMerchants {
  // Bounded: forgetting only costs one idempotent insert later.
  private readonly seen = new LRUCache<string, true>({ max: 100_000 });
  constructor(private readonly prisma: PrismaClient) {}

  async ensure(viewer: Viewer): Promise<void> {
    if (this.seen.has(viewer.merchantId)) return;
    await this.prisma.merchant.createMany({ data: [{ id: viewer.merchantId }], skipDuplicates: true });
    this.seen.set(viewer.merchantId, true);
  }
}
