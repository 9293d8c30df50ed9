// Webhooks: endpoints that receive a merchant's events, and the deliveries made to them.

import { EVENT_TYPES, type EventTypeName, eventTypeName } from '@keygate/core';
import type { MerchantContext } from '@keygate/services/context';
import { NotFoundError, ValidationError } from '@keygate/services/errors';
import type { WebhookDelivery as DeliveryRow, WebhookEndpoint as EndpointRow } from '@keygate/services/prisma';
import { descriptionRule } from '@keygate/services/validation';
import * as webhooks from '@keygate/services/webhooks';
import { z } from 'zod';
import { builder, pageSize } from '../builder.ts';

const EVENT_DESCRIPTIONS: Record<EventTypeName, string> = {
  KEY_CREATED: 'key.created: a key was created',
  KEY_UPDATED: 'key.updated: a key was edited or its IP rules set',
  KEY_ROLLED: 'key.rolled: a key was replaced by a new secret (data: the new key, with previousKey)',
  KEY_REVOKED: 'key.revoked: a key was revoked',
  KEY_ENABLED: 'key.enabled: a disabled key was enabled',
  KEY_DISABLED: 'key.disabled: a key was disabled',
  KEY_EXPIRING: 'key.expiring: a key expires soon (data.warningSeconds: the warning threshold reached)',
  KEY_EXPIRED: 'key.expired: a key’s expiry has passed',
  KEY_LEAKED: 'key.leaked: a secret scanner found the key in public (data.leak: where, and whether it was revoked)',
  KEY_ANOMALY:
    'key.anomaly: the key is used unlike before: a new network, many networks, a volume spike, a burst of refusals (data.anomaly: kind, details, and whether Keygate disabled the key)',
  USAGE_EXCEEDED: 'usage.exceeded: a key’s credits ran out (once per refill period or change of its credits)',
  APPLICATION_CREATED: 'application.created',
  APPLICATION_UPDATED: 'application.updated: renamed or described anew',
  APPLICATION_ENABLED: 'application.enabled',
  APPLICATION_DISABLED: 'application.disabled: none of its keys verify',
  WEBHOOK_TEST: 'webhook.test: sent by sendTestWebhook',
};

export const EventType = builder.enumType('EventType', {
  description: 'What a webhook can be told about; on the wire, the lower-case dotted names',
  values: Object.fromEntries(
    (Object.keys(EVENT_TYPES) as EventTypeName[]).map((name) => [name, { description: EVENT_DESCRIPTIONS[name] }]),
  ) as Record<EventTypeName, { description: string }>,
});

const DeliveryStatus = builder.enumType('WebhookDeliveryStatus', {
  values: {
    PENDING: { description: 'Not delivered yet: waiting for its next attempt' },
    SUCCEEDED: { description: 'The endpoint answered 2xx' },
    FAILED: { description: 'Attempts ran out (KEYGATE_WEBHOOK_RETRY_HOURS) without a 2xx' },
  },
});

const WebhookDelivery = builder.prismaObject('WebhookDelivery', {
  description: 'One event sent to one endpoint, attempted until a 2xx answer or its time runs out',
  fields: (t) => ({
    id: t.exposeID('id'),
    eventId: t.exposeString('eventId', { description: 'Also the webhook-id header of every attempt' }),
    eventType: t.field({
      type: EventType,
      select: { event: { select: { type: true } } },
      resolve: (delivery) => eventTypeName(delivery.event.type) ?? 'WEBHOOK_TEST',
    }),
    status: t.expose('status', { type: DeliveryStatus }),
    attempts: t.exposeInt('attempts'),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    lastResponse: t.exposeString('lastResponse', { nullable: true, description: 'At most 1 KiB of the answer' }),
    nextAttemptAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (delivery) => (delivery.status === 'PENDING' ? delivery.nextAttemptAt : null),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const WebhookEndpoint = builder.prismaNode('WebhookEndpoint', {
  id: { field: 'id' },
  nullable: true,
  findUnique: (id, ctx) => ({ id_merchantId: { id, merchantId: ctx.viewer?.merchantId ?? '' } }),
  fields: (t) => ({
    url: t.exposeString('url'),
    description: t.exposeString('description', { nullable: true }),
    events: t.field({
      type: [EventType],
      resolve: (endpoint) => endpoint.events.flatMap((wire) => eventTypeName(wire) ?? []),
    }),
    enabled: t.exposeBoolean('enabled'),
    disabledReason: t.exposeString('disabledReason', {
      nullable: true,
      description: 'Why Keygate disabled it (it kept failing); updateWebhookEndpoint(enabled: true) starts afresh',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    deliveries: t.prismaConnection(
      {
        type: WebhookDelivery,
        cursor: 'id',
        description: 'Deliveries to this endpoint, newest first',
        args: { status: t.arg({ type: DeliveryStatus, required: false }) },
        maxSize: pageSize,
        resolve: (query, endpoint, args, ctx) =>
          webhooks.listDeliveries(ctx as MerchantContext, endpoint.id, args, query),
      },
      { name: 'WebhookDeliveryConnection' },
      { name: 'WebhookDeliveryEdge' },
    ),
  }),
});

const urlRule = z.string().trim().min(1, 'must not be empty').max(2048, 'must be at most 2048 characters');
const eventsRule = z.array(z.string()).min(1, 'must name at least one event type');

const EndpointPayload = builder
  .objectRef<{ endpoint: EndpointRow; signingSecret: string }>('CreateWebhookEndpointPayload')
  .implement({
    fields: (t) => ({
      endpoint: t.field({ type: WebhookEndpoint, resolve: (payload) => payload.endpoint }),
      signingSecret: t.exposeString('signingSecret', {
        description:
          'whsec_…: verify deliveries with it (Standard Webhooks). Shown only here, only once; rotateWebhookSecret makes a new one',
      }),
    }),
  });

const WebhookEndpointPayload = builder.objectRef<{ endpoint: EndpointRow }>('WebhookEndpointPayload').implement({
  fields: (t) => ({ endpoint: t.field({ type: WebhookEndpoint, resolve: (payload) => payload.endpoint }) }),
});

const idInput = (name: string) => builder.inputType(name, { fields: (f) => ({ id: f.id({ required: true }) }) });

builder.queryField('webhookEndpoints', (t) =>
  t.withAuth({ merchant: true }).prismaConnection(
    {
      type: WebhookEndpoint,
      cursor: 'id',
      description: "The merchant's webhook endpoints, newest first",
      maxSize: pageSize,
      resolve: (query, _root, args, ctx) => webhooks.listEndpoints(ctx, args, query),
      totalCount: (_root, _args, ctx) => webhooks.countEndpoints(ctx),
    },
    { name: 'WebhookEndpointConnection' },
    { name: 'WebhookEndpointEdge' },
  ),
);

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.withAuth({ merchant: true }).field({
    type: EndpointPayload,
    description: 'Starts sending the chosen events to a URL, signed (Standard Webhooks); the secret is shown once',
    args: {
      input: t.arg({
        type: builder.inputType('CreateWebhookEndpointInput', {
          fields: (f) => ({
            url: f.string({
              required: true,
              validate: urlRule,
              description: 'https:// (a public host; checked again at every delivery)',
            }),
            events: f.field({ type: [EventType], required: true, validate: eventsRule }),
            description: f.string({ validate: descriptionRule }),
          }),
        }),
        required: true,
      }),
    },
    errors: { types: [ValidationError] },
    resolve: (_root, { input }, ctx) => webhooks.createEndpoint(ctx, input),
  }),
  updateWebhookEndpoint: t.withAuth({ merchant: true }).field({
    type: WebhookEndpointPayload,
    description: 'Changes the given fields; enabling an endpoint Keygate disabled starts afresh',
    args: {
      input: t.arg({
        type: builder.inputType('UpdateWebhookEndpointInput', {
          fields: (f) => ({
            id: f.id({ required: true }),
            url: f.string({ validate: urlRule }),
            events: f.field({ type: [EventType], validate: eventsRule }),
            description: f.string({ validate: descriptionRule, description: 'null or "" clears it' }),
            enabled: f.boolean(),
          }),
        }),
        required: true,
      }),
    },
    errors: { types: [ValidationError, NotFoundError] },
    resolve: async (_root, { input }, ctx) => ({ endpoint: await webhooks.updateEndpoint(ctx, input.id, input) }),
  }),
  deleteWebhookEndpoint: t.withAuth({ merchant: true }).field({
    type: builder.objectRef<{ id: string }>('DeleteWebhookEndpointPayload').implement({
      fields: (f) => ({ id: f.exposeID('id', { description: 'The deleted endpoint' }) }),
    }),
    description: 'Stops sending to the endpoint; its pending deliveries are dropped',
    args: { input: t.arg({ type: idInput('DeleteWebhookEndpointInput'), required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (_root, { input }, ctx) => ({ id: await webhooks.deleteEndpoint(ctx, input.id) }),
  }),
  rotateWebhookSecret: t.withAuth({ merchant: true }).field({
    type: EndpointPayload,
    description: 'A new signing secret (shown once); deliveries are signed with it from now on',
    args: { input: t.arg({ type: idInput('RotateWebhookSecretInput'), required: true }) },
    errors: { types: [NotFoundError] },
    resolve: (_root, { input }, ctx) => webhooks.rotateSecret(ctx, input.id),
  }),
  sendTestWebhook: t.withAuth({ merchant: true }).field({
    type: builder.objectRef<DeliveryRow>('SendTestWebhookPayload').implement({
      fields: (f) => ({ delivery: f.field({ type: WebhookDelivery, resolve: (delivery) => delivery }) }),
    }),
    description: 'Sends a webhook.test event to this endpoint alone',
    args: { input: t.arg({ type: idInput('SendTestWebhookInput'), required: true }) },
    errors: { types: [NotFoundError] },
    resolve: (_root, { input }, ctx) => webhooks.sendTest(ctx, input.id),
  }),
}));
