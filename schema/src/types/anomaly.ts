// Anomalies: keys used unlike before. Found by every instance's detection runs (once), sent as
// key.anomaly events; the merchant chooses per kind to be told only, or to have the key disabled.

import * as anomalies from '@keygate/services/anomalies';
import type { MerchantContext } from '@keygate/services/context';
import { ValidationError } from '@keygate/services/errors';
import type { ApiKey as ApiKeyRow, KeyAnomaly as KeyAnomalyRow } from '@keygate/services/prisma';
import { z } from 'zod';
import { builder } from '../builder.ts';
import { ApiKey } from './api-key.ts';

const AnomalyKind = builder.enumType('AnomalyKind', {
  values: {
    NEW_NETWORK: { description: 'First use from a network (IPv4 /24, IPv6 /48) not seen in the window' },
    MANY_NETWORKS: { description: 'Far more client networks in an hour than usual: a shared or leaked key' },
    VOLUME_SPIKE: { description: 'Verifications in an hour at least 10× the hourly norm' },
    REFUSAL_BURST: { description: 'Refusals in an hour far above their norm, e.g. IP_DENIED from new networks' },
  } as const,
});

const AnomalyResponse = builder.enumType('AnomalyResponse', {
  values: {
    NOTIFY: { description: 'A key.anomaly event and a flag on the key; nothing else (the default)' },
    DISABLE: { description: 'The same, and the key is disabled (audited as done by Keygate; enable it again to undo)' },
  } as const,
});

const number = (value: unknown) => (typeof value === 'number' ? value.toLocaleString('en-US') : '?');

/** The anomaly in a sentence, from its kind and evidence. */
function describe(row: KeyAnomalyRow): string {
  const d = (row.details ?? {}) as Record<string, unknown>;
  switch (row.kind) {
    case 'NEW_NETWORK':
      return `First use from ${String(d.network)}, a network it was not used from in the window`;
    case 'MANY_NETWORKS':
      return `${number(d.networks)} client networks in one hour; usually ${number(d.norm)}`;
    case 'VOLUME_SPIKE':
      return `${number(d.verifications)} verifications in one hour; usually ${number(d.norm)} an hour`;
    case 'REFUSAL_BURST':
      return `${number(d.refused)} refused verifications in one hour; usually ${number(d.norm)} an hour`;
  }
}

export const KeyAnomaly = builder.objectRef<KeyAnomalyRow & { key?: ApiKeyRow }>('KeyAnomaly').implement({
  description: 'Something unusual in how a key was used, found once, with its evidence',
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.field({ type: AnomalyKind, resolve: (row) => row.kind }),
    message: t.string({ resolve: describe }),
    hour: t.field({ type: 'DateTime', description: 'The hour of traffic it was found in', resolve: (row) => row.hour }),
    details: t.field({
      type: 'JSON',
      description: 'The evidence: counts, the norm, the network(s)',
      resolve: (row) => row.details,
    }),
    response: t.field({ type: AnomalyResponse, description: 'What Keygate did', resolve: (row) => row.response }),
    detectedAt: t.field({ type: 'DateTime', resolve: (row) => row.detectedAt }),
    key: t.field({
      type: ApiKey,
      nullable: true,
      resolve: (row, _args, ctx) =>
        row.key ??
        (ctx.viewer
          ? ctx.prisma.apiKey.findFirst({ where: { id: row.keyId, merchantId: ctx.viewer.merchantId } })
          : null),
    }),
  }),
});

builder.objectFields(ApiKey, (t) => ({
  anomalies: t.field({
    type: [KeyAnomaly],
    description: 'Its anomalies, newest first (at most 20)',
    resolve: (key, _args, ctx) => (ctx.viewer ? anomalies.keyAnomalies(ctx as MerchantContext, key.id) : []),
  }),
}));

const AnomalyResponses = builder.objectRef<anomalies.AnomalyResponses>('AnomalyResponses').implement({
  description: 'What Keygate does on each kind of anomaly',
  fields: (t) => ({
    newNetwork: t.field({ type: AnomalyResponse, resolve: (r) => r.NEW_NETWORK }),
    manyNetworks: t.field({ type: AnomalyResponse, resolve: (r) => r.MANY_NETWORKS }),
    volumeSpike: t.field({ type: AnomalyResponse, resolve: (r) => r.VOLUME_SPIKE }),
    refusalBurst: t.field({ type: AnomalyResponse, resolve: (r) => r.REFUSAL_BURST }),
  }),
});

builder.queryFields((t) => ({
  anomalies: t.withAuth({ merchant: true }).field({
    type: [KeyAnomaly],
    description: 'Anomalies of all your keys found in the last days, newest first',
    args: {
      withinDays: t.arg.int({ defaultValue: 7, validate: z.number().int().min(1).max(90) }),
      first: t.arg.int({ defaultValue: 10, validate: z.number().int().min(1).max(100) }),
    },
    resolve: (_root, args, ctx) =>
      anomalies.recentAnomalies(ctx, new Date(Date.now() - (args.withinDays ?? 7) * 86_400_000), args.first ?? 10),
  }),
  anomalyResponses: t.withAuth({ merchant: true }).field({
    type: AnomalyResponses,
    resolve: (_root, _args, ctx) => anomalies.anomalyResponses(ctx),
  }),
}));

builder.mutationField('setAnomalyResponses', (t) =>
  t.withAuth({ merchant: true }).field({
    type: builder.objectRef<{ anomalyResponses: anomalies.AnomalyResponses }>('SetAnomalyResponsesPayload').implement({
      fields: (f) => ({ anomalyResponses: f.field({ type: AnomalyResponses, resolve: (p) => p.anomalyResponses }) }),
    }),
    description: 'Chooses, per kind of anomaly, to be told only or to have the key disabled too; omitted kinds stay',
    args: {
      input: t.arg({
        type: builder.inputType('AnomalyResponsesInput', {
          fields: (f) => ({
            newNetwork: f.field({ type: AnomalyResponse }),
            manyNetworks: f.field({ type: AnomalyResponse }),
            volumeSpike: f.field({ type: AnomalyResponse }),
            refusalBurst: f.field({ type: AnomalyResponse }),
          }),
        }),
        required: true,
      }),
    },
    errors: { types: [ValidationError] },
    resolve: async (_root, { input }, ctx) => ({
      anomalyResponses: await anomalies.setAnomalyResponses(ctx, {
        ...(input.newNetwork ? { NEW_NETWORK: input.newNetwork } : {}),
        ...(input.manyNetworks ? { MANY_NETWORKS: input.manyNetworks } : {}),
        ...(input.volumeSpike ? { VOLUME_SPIKE: input.volumeSpike } : {}),
        ...(input.refusalBurst ? { REFUSAL_BURST: input.refusalBurst } : {}),
      }),
    }),
  }),
);
