// Builds each GraphQL request's context: who is calling, and the services the
// resolvers use.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context, KeyChangeListener, SchemaSettings, Viewer } from '@keygate/schema';
import type { KeyVerifier } from '@keygate/schema/domain';
import type { PrismaClient } from '@keygate/schema/prisma';
import type { Authenticator } from './auth.ts';
import { clientIp, TrustedProxies } from './verification/client-ip.ts';

export interface ContextServices {
  prisma: PrismaClient;
  authenticate: Authenticator;
  settings: SchemaSettings;
  keyChanges?: KeyChangeListener;
  verifier?: KeyVerifier;
  /** Whose forwarding headers give the client address recorded in the audit trail. */
  trustedProxies?: TrustedProxies;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createContextFactory(services: ContextServices) {
  const merchants = new KnownMerchants(services.prisma);
  const proxies = services.trustedProxies ?? new TrustedProxies([]);
  return async ({ request, req }: { request: Request; req?: IncomingMessage }): Promise<Context> => {
    const principal = await services.authenticate(request.headers.get('authorization'));
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
        // A caller's own request id (e.g. from its gateway) is kept when it is a sane one.
        id: REQUEST_ID.test(request.headers.get('x-request-id') ?? '')
          ? request.headers.get('x-request-id')!
          : randomUUID(),
        ip: req
          ? clientIp(
              req.socket.remoteAddress,
              {
                xff: request.headers.get('x-forwarded-for') ?? undefined,
                realIp: request.headers.get('x-real-ip') ?? undefined,
              },
              proxies,
            )
          : null,
      },
    };
  };
}

/** Creates a merchant's row the first time it is seen, without a write per request. */
class KnownMerchants {
  private readonly seen = new Set<string>();
  constructor(private readonly prisma: PrismaClient) {}

  async ensure(viewer: Viewer): Promise<void> {
    if (this.seen.has(viewer.merchantId)) return;
    await this.prisma.merchant.createMany({ data: [{ id: viewer.merchantId }], skipDuplicates: true });
    // Bounded: forgetting only costs one idempotent insert later.
    if (this.seen.size >= 100_000) this.seen.clear();
    this.seen.add(viewer.merchantId);
  }
}
