// Key policies: the rules keys must follow, `policy`, `setPolicy` (with a dry run) and the keys an
// existing or proposed policy finds outside it.

import type { KeyPolicy as KeyPolicyRules } from '@keygate/core';
import type { MerchantContext } from '@keygate/services/context';
import { type PolicyViolationIssue, ValidationError } from '@keygate/services/errors';
import * as policies from '@keygate/services/policies';
import type { ApiKey as ApiKeyRow } from '@keygate/services/prisma';
import { keyPolicyRule } from '@keygate/services/validation';
import { resolveOffsetConnection } from '@pothos/plugin-relay';
import { builder } from '../builder.ts';
import { ApiKey } from './api-key.ts';
import { PolicyViolationRef } from './common.ts';

const PolicySource = builder.enumType('PolicySource', {
  values: {
    MERCHANT: { description: 'Set by the merchant (setPolicy)' },
    PLATFORM_DEFAULT: { description: "The operator's default, for merchants that set none" },
    NONE: { description: 'No policy: any key may be made' },
  } as const,
});

const KeyLifetimes = builder.objectRef<{ live?: number | null; test?: number | null }>('KeyLifetimes').implement({
  description: 'Longest lifetime in days from creation, per environment; null: no bound',
  fields: (t) => ({
    live: t.int({ nullable: true, resolve: (days) => days.live ?? null }),
    test: t.int({ nullable: true, resolve: (days) => days.test ?? null }),
  }),
});

const KeyOutOfPolicy = builder
  .objectRef<{ key: ApiKeyRow; violations: PolicyViolationIssue[] }>('KeyOutOfPolicy')
  .implement({
    description: 'A key that breaks the policy, and each rule it breaks (a policy never changes a key)',
    fields: (t) => ({
      key: t.field({ type: ApiKey, resolve: (entry) => entry.key }),
      violations: t.field({ type: [PolicyViolationRef], resolve: (entry) => entry.violations }),
    }),
  });

export const KeyPolicy = builder.objectRef<policies.EffectivePolicy>('KeyPolicy').implement({
  description: 'The rules new and changed keys must follow; existing keys are judged, never changed',
  fields: (t) => ({
    source: t.field({ type: PolicySource, resolve: (policy) => policy.source }),
    maxLifetimeDays: t.field({ type: KeyLifetimes, resolve: (policy) => policy.rules.maxLifetimeDays ?? {} }),
    fullAccessRequiresIpRules: t.boolean({ resolve: (policy) => policy.rules.fullAccessRequiresIpRules ?? false }),
    noWildcardScopesInLive: t.boolean({ resolve: (policy) => policy.rules.noWildcardScopesInLive ?? false }),
    allowedScopes: t.stringList({
      nullable: true,
      description: "Every scope of a key (its own and its roles') must be covered by one of these; null: any",
      resolve: (policy) => policy.rules.allowedScopes ?? null,
    }),
    maxGracePeriodSeconds: t.int({ nullable: true, resolve: (policy) => policy.rules.maxGracePeriodSeconds ?? null }),
    updatedAt: t.field({ type: 'DateTime', nullable: true, resolve: (policy) => policy.updatedAt }),
    keysOutOfPolicy: t.connection(
      {
        type: KeyOutOfPolicy,
        description: 'Keys that are not revoked or expired and break this policy, newest first',
        resolve: async (policy, args, ctx) => {
          const judged = ctx.viewer ? await policies.keysOutOfPolicy(ctx as MerchantContext, policy.rules) : [];
          return resolveOffsetConnection(
            { args, totalCount: judged.length, maxSize: ctx.settings.maxPageSize },
            async ({ offset, limit }) => {
              const page = judged.slice(offset, offset + limit);
              const rows = await ctx.prisma.apiKey.findMany({
                where: { id: { in: page.map((entry) => entry.id) }, merchantId: ctx.viewer?.merchantId ?? '' },
              });
              const byId = new Map(rows.map((row) => [row.id, row]));
              return page.flatMap((entry) => {
                const key = byId.get(entry.id);
                const violations = entry.violations.map((violation) => ({ ...violation, path: [] }));
                return key ? [{ key, violations }] : [];
              });
            },
          );
        },
      },
      {
        name: 'KeyOutOfPolicyConnection',
        fields: (c) => ({ totalCount: c.int({ resolve: (connection) => connection.totalCount }) }),
      },
      { name: 'KeyOutOfPolicyEdge' },
    ),
  }),
});

builder.queryField('policy', (t) =>
  t.withAuth({ merchant: true }).field({
    type: KeyPolicy,
    description: "The key policy in force: the merchant's own, else the operator's default",
    resolve: (_root, _args, ctx) => policies.effectivePolicy(ctx),
  }),
);

const rule = keyPolicyRule.shape;

const KeyPolicyInput = builder.inputType('KeyPolicyInput', {
  description: 'The whole policy: an absent or null rule is no rule',
  fields: (t) => ({
    maxLifetimeDays: t.field({
      type: builder.inputType('KeyLifetimesInput', {
        fields: (f) => ({
          live: f.int({ description: 'Live keys must expire within this many days of creation (1-3650)' }),
          test: f.int({ description: 'Test keys must expire within this many days of creation (1-3650)' }),
        }),
      }),
      validate: rule.maxLifetimeDays,
    }),
    fullAccessRequiresIpRules: t.boolean({ description: 'Full-access keys must be limited by IP rules' }),
    noWildcardScopesInLive: t.boolean({ description: 'Live keys may not hold a scope ending in *' }),
    allowedScopes: t.stringList({
      validate: rule.allowedScopes,
      description: 'At most 100, wildcards as in verification (e.g. orders:*); absent: any scope',
    }),
    maxGracePeriodSeconds: t.int({
      validate: rule.maxGracePeriodSeconds,
      description: 'The longest grace period of a roll (0-604800)',
    }),
  }),
});

const SetPolicyPayload = builder
  .objectRef<{ policy: policies.EffectivePolicy; dryRun: boolean }>('SetPolicyPayload')
  .implement({
    fields: (t) => ({
      policy: t.field({
        type: KeyPolicy,
        description:
          'The policy as set (in a dry run: as it would be); its keysOutOfPolicy are the keys it would refuse',
        resolve: (payload) => payload.policy,
      }),
      dryRun: t.exposeBoolean('dryRun', { description: 'true: nothing was changed' }),
    }),
  });

builder.mutationField('setPolicy', (t) =>
  t.withAuth({ merchant: true }).field({
    type: SetPolicyPayload,
    description:
      'Sets the key policy (audited). With dryRun: true changes nothing and answers which existing keys the policy would find outside it, and why. Existing keys are never changed',
    args: {
      input: t.arg({ type: KeyPolicyInput, required: true }),
      dryRun: t.arg.boolean({ defaultValue: false }),
    },
    errors: { types: [ValidationError] },
    resolve: async (_root, { input, dryRun }, ctx) => ({
      policy: await policies.setPolicy(ctx, input as KeyPolicyRules, dryRun ?? false),
      dryRun: dryRun ?? false,
    }),
  }),
);
