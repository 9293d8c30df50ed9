// Webhook endpoints: where a merchant's events are sent. Every change is
// audited; the signing secret is returned by the mutation that makes it
// (create, rotate) and otherwise only used to sign deliveries.
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { EVENT_TYPES, type EventTypeName, globalId, isPublicAddress, localId, parseIp } from '@keygate/core';
import { edited, recorded, sent } from './audit.ts';
import { clockOf, type MerchantContext } from './context.ts';
import { NotFoundError, ValidationError } from './errors.ts';
import { emit } from './events.ts';
import { listPage, type PageArgs } from './lists.ts';
import type { ConnectionQuery } from './pagination.ts';
import type { WebhookDeliveryStatus, WebhookEndpoint } from './prisma.ts';

/** whsec_ and 32 random bytes, base64: the Standard Webhooks form of a signing secret. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export interface EndpointInput {
  url?: string | null;
  events?: EventTypeName[] | null;
  description?: string | null;
  enabled?: boolean | null;
}

/**
 * The URL's problem, or null: http(s) only, https unless insecure URLs are allowed, and no host
 * that is or resolves to a non-public address unless private ones are allowed (checked again at
 * every delivery, against DNS rebinding).
 */
export async function urlProblem(
  raw: string,
  settings: { allowInsecure: boolean; allowPrivate: boolean },
): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute https:// URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && settings.allowInsecure)) {
    return settings.allowInsecure ? 'must be an http:// or https:// URL' : 'must be an https:// URL';
  }
  if (url.username || url.password) return 'must not carry a user name or password';
  if (settings.allowPrivate) return null;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (parseIp(host)) return isPublicAddress(host) ? null : `its host ${host} is not a public address`;
  const addresses = await lookup(host, { all: true, verbatim: true }).then(
    (found) => found.map((a) => a.address),
    () => null,
  );
  if (addresses === null || addresses.length === 0) return `its host ${host} does not resolve`;
  // Which internal address a name resolves to is not the merchant's to learn.
  return addresses.every(isPublicAddress)
    ? null
    : `its host ${host} resolves to an address that is not public (loopback, private, link-local or reserved)`;
}

async function checkedUrl(ctx: MerchantContext, url: string): Promise<void> {
  const problem = await urlProblem(url, ctx.settings.webhooks ?? { allowInsecure: false, allowPrivate: false });
  if (problem) throw new ValidationError([{ path: ['input', 'url'], message: problem }]);
}

const wire = (events: readonly EventTypeName[]) => [...new Set(events)].map((name) => EVENT_TYPES[name]);

export async function findEndpoint(ctx: MerchantContext, id: string) {
  const local = localId(id, 'WebhookEndpoint');
  if (!local) return null;
  return ctx.prisma.webhookEndpoint.findUnique({
    where: { id_merchantId: { id: local, merchantId: ctx.viewer.merchantId } },
  });
}

async function requireEndpoint(ctx: MerchantContext, id: string): Promise<WebhookEndpoint> {
  const endpoint = await findEndpoint(ctx, id);
  if (!endpoint) throw new NotFoundError('WebhookEndpoint', id);
  return endpoint;
}

/** Most webhook endpoints one merchant may have: each is attempted for every event it subscribes to. */
export const MAX_ENDPOINTS_PER_MERCHANT = 20;

export async function createEndpoint(
  ctx: MerchantContext,
  input: { url: string; events: EventTypeName[]; description?: string | null },
): Promise<{ endpoint: WebhookEndpoint; signingSecret: string }> {
  await checkedUrl(ctx, input.url);
  const secret = newSigningSecret();
  const endpoint = await recorded(
    ctx,
    async (tx) => {
      // Counted under the merchant's row lock: concurrent creations cannot pass the limit together.
      await tx.$queryRaw`SELECT id FROM merchants WHERE id = ${ctx.viewer.merchantId} FOR UPDATE`;
      const held = await tx.webhookEndpoint.count({ where: { merchantId: ctx.viewer.merchantId } });
      if (held >= MAX_ENDPOINTS_PER_MERCHANT) {
        throw new ValidationError([
          {
            path: ['input'],
            message: `a merchant may have at most ${MAX_ENDPOINTS_PER_MERCHANT} webhook endpoints; delete one first`,
          },
        ]);
      }
      return tx.webhookEndpoint.create({
        data: {
          merchantId: ctx.viewer.merchantId,
          url: input.url,
          events: wire(input.events),
          description: input.description ?? null,
          secret,
        },
      });
    },
    (created) => ({
      action: 'createWebhookEndpoint',
      target: { type: 'WebhookEndpoint', id: created.id },
      summary: sent(input, ['url', 'events', 'description']),
    }),
  );
  return { endpoint, signingSecret: secret };
}

export async function updateEndpoint(ctx: MerchantContext, id: string, input: EndpointInput): Promise<WebhookEndpoint> {
  const current = await requireEndpoint(ctx, id);
  if (input.url != null) await checkedUrl(ctx, input.url);
  return recorded(
    ctx,
    (tx) =>
      tx.webhookEndpoint.update({
        where: { id: current.id },
        data: {
          ...(input.url != null ? { url: input.url } : {}),
          ...(input.events != null ? { events: wire(input.events) } : {}),
          ...(input.description !== undefined ? { description: input.description } : {}),
          // Enabling again starts afresh: the failure streak that disabled it is over.
          ...(input.enabled != null
            ? { enabled: input.enabled, ...(input.enabled ? { disabledReason: null, failingSince: null } : {}) }
            : {}),
        },
      }),
    () => ({
      action: 'updateWebhookEndpoint',
      target: { type: 'WebhookEndpoint', id: current.id },
      summary: edited(current, input, ['url', 'events', 'description', 'enabled']),
    }),
  );
}

export async function deleteEndpoint(ctx: MerchantContext, id: string): Promise<string> {
  const current = await requireEndpoint(ctx, id);
  await recorded(
    ctx,
    (tx) => tx.webhookEndpoint.delete({ where: { id: current.id } }),
    () => ({
      action: 'deleteWebhookEndpoint',
      target: { type: 'WebhookEndpoint', id: current.id },
      // What it was, for the trail: the endpoint itself is gone.
      summary: { url: current.url },
    }),
  );
  return globalId('WebhookEndpoint', current.id);
}

/** A new signing secret; deliveries from now on are signed with it. */
export async function rotateSecret(
  ctx: MerchantContext,
  id: string,
): Promise<{ endpoint: WebhookEndpoint; signingSecret: string }> {
  const current = await requireEndpoint(ctx, id);
  const secret = newSigningSecret();
  const endpoint = await recorded(
    ctx,
    (tx) => tx.webhookEndpoint.update({ where: { id: current.id }, data: { secret } }),
    () => ({ action: 'rotateWebhookSecret', target: { type: 'WebhookEndpoint', id: current.id }, summary: {} }),
  );
  return { endpoint, signingSecret: secret };
}

/** A webhook.test event to this endpoint alone, whatever it subscribed to. */
export async function sendTest(ctx: MerchantContext, id: string) {
  const current = await requireEndpoint(ctx, id);
  return recorded(
    ctx,
    async (tx) => {
      const { eventId } = await emit(
        tx,
        ctx.viewer.merchantId,
        { type: 'WEBHOOK_TEST', data: { endpointId: globalId('WebhookEndpoint', current.id) } },
        new Date(clockOf(ctx)),
        current.id,
      );
      return tx.webhookDelivery.findUniqueOrThrow({
        where: { endpointId_eventId: { endpointId: current.id, eventId } },
        include: { event: true },
      });
    },
    () => ({ action: 'sendTestWebhook', target: { type: 'WebhookEndpoint', id: current.id }, summary: {} }),
  );
}

/** A page of the merchant's webhook endpoints, newest first. */
export function listEndpoints(ctx: MerchantContext, args: PageArgs, query: ConnectionQuery) {
  return listPage(query, args, ctx.settings.maxPageSize, (page) =>
    ctx.prisma.webhookEndpoint.findMany({
      ...page.query,
      where: { AND: [{ merchantId: ctx.viewer.merchantId }, page.keyset] },
      orderBy: page.orderBy,
    }),
  );
}

export function countEndpoints(ctx: MerchantContext): Promise<number> {
  return ctx.prisma.webhookEndpoint.count({ where: { merchantId: ctx.viewer.merchantId } });
}

/** A page of one endpoint's deliveries, newest first (the endpoint is the caller's: it was loaded for them). */
export function listDeliveries(
  ctx: MerchantContext,
  endpointId: string,
  args: { status?: WebhookDeliveryStatus | null } & PageArgs,
  query: ConnectionQuery,
) {
  return listPage(query, args, ctx.settings.maxPageSize, (page) =>
    ctx.prisma.webhookDelivery.findMany({
      ...page.query,
      where: { AND: [{ endpointId, ...(args.status ? { status: args.status } : {}) }, page.keyset] },
      orderBy: page.orderBy,
    }),
  );
}
