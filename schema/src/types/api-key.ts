// API keys: the type, its queries, and the mutations that create and change keys.

import { creditsView, type KeyStatusName, keyStatus, METERING_BOUNDS } from '@keygate/core';
import type { MerchantContext } from '@keygate/services/context';
import { clockOf } from '@keygate/services/context';
import {
  KeyLimitReachedError,
  KeyRevokedError,
  NotFoundError,
  PolicyViolationError,
  ValidationError,
} from '@keygate/services/errors';
import { identityOfKey } from '@keygate/services/identities';
import * as keys from '@keygate/services/keys';
import type { ApiKey as ApiKeyRow } from '@keygate/services/prisma';
import { MAX_ROLES_PER_KEY, rolesOfKey } from '@keygate/services/roles';
import {
  creditsRule,
  externalIdRule,
  futureDateRule,
  gracePeriodRule,
  MAX_GRACE_SECONDS,
  metadataRule,
  nameRule,
  rateLimitsRule,
  scopesRule,
  websiteUrlRule,
} from '@keygate/services/validation';
import { builder, pageSize } from '../builder.ts';
import { Identity } from './identity.ts';
import { IpAction, IpRuleInput, ipRulesRule } from './ip-rule-input.ts';
import { Credits, CreditsInput, RateLimit, RateLimitInput } from './metering.ts';
import { Role } from './role.ts';

export const KeyAccess = builder.enumType('KeyAccess', {
  values: {
    READ_ONLY: { description: 'Reads only; the kind of key that is safe in a frontend' },
    FULL_ACCESS: { description: 'Reads and writes' },
  },
});
export const KeyEnvironment = builder.enumType('KeyEnvironment', { values: ['LIVE', 'TEST'] as const });
export const KeyStatus = builder.enumType('KeyStatus', {
  values: {
    ACTIVE: { description: 'Verifies (while its application is enabled)' },
    DISABLED: { description: 'Disabled by its merchant: refused with KEY_DISABLED until enabled again' },
    EXPIRED: { description: 'Its expiry has passed; moving the expiry revives it' },
    REVOKED: { description: 'Final: never verifies again and cannot be reactivated' },
  } satisfies Record<KeyStatusName, { description: string }>,
});

const { maxRateLimits } = METERING_BOUNDS;

export const ApiKey = builder.prismaNode('ApiKey', {
  id: { field: 'id' },
  nullable: true,
  findUnique: (id, ctx) => ({ id_merchantId: { id, merchantId: ctx.viewer?.merchantId ?? '' } }),
  fields: (t) => ({
    name: t.exposeString('name'),
    websiteUrl: t.exposeString('websiteUrl', { nullable: true }),
    prefix: t.exposeString('prefix', { description: 'Visible start of the secret, e.g. kg_live_Ab3x' }),
    access: t.expose('access', { type: KeyAccess }),
    scopes: t.exposeStringList('scopes', {
      description: 'Its own scopes. Empty, and without roles: everything its access level allows',
    }),
    roles: t.field({
      type: [Role],
      description: 'Its roles: it is granted their scopes too',
      resolve: (key, _args, ctx) => (ctx.viewer ? rolesOfKey(ctx as MerchantContext, key.id) : []),
    }),
    identity: t.field({
      type: Identity,
      nullable: true,
      description: 'Whoever it belongs to; returned with every verification',
      resolve: (key, _args, ctx) =>
        key.identityId !== null && ctx.viewer ? identityOfKey(ctx as MerchantContext, key.identityId) : null,
    }),
    effectiveScopes: t.stringList({
      description:
        'What verification checks: its own scopes and its roles’, each once, sorted. Empty: everything its access level allows',
      resolve: async (key, _args, ctx) => {
        const held = ctx.viewer ? await rolesOfKey(ctx as MerchantContext, key.id) : [];
        if (held.length === 0) return key.scopes;
        return [...new Set([...key.scopes, ...held.flatMap((role) => role.scopes)])].sort();
      },
    }),
    environment: t.expose('environment', { type: KeyEnvironment }),
    imported: t.exposeBoolean('imported', {
      description: 'Brought in by importKeys: its secret was issued elsewhere (rolling it makes a Keygate key)',
    }),
    status: t.field({ type: KeyStatus, resolve: (key) => keyStatus(key, new Date()) }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    lastUsedAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: async (key, _args, ctx) =>
        ctx.viewer ? ((await keys.lastUseOf(ctx as MerchantContext, key))?.at ?? null) : null,
    }),
    lastUsedIp: t.string({
      nullable: true,
      description: 'The client address its last verification named',
      resolve: async (key, _args, ctx) =>
        ctx.viewer ? ((await keys.lastUseOf(ctx as MerchantContext, key))?.ip ?? null) : null,
    }),
    enabled: t.exposeBoolean('enabled', { description: 'False: refused with KEY_DISABLED until enabled again' }),
    metadata: t.field({
      type: 'JSON',
      nullable: true,
      description: 'The merchant’s own data for the key, returned on every verification',
      resolve: (key) => key.metadata,
    }),
    externalId: t.exposeString('externalId', {
      nullable: true,
      description: 'The merchant’s own id for the key’s owner (a customer or user id)',
    }),
    rolledFrom: t.relation('rolledFrom', { nullable: true, description: 'The key this one replaced (rollKey)' }),
    rolledTo: t.relation('rolledTo', {
      nullable: true,
      description: 'The key that replaced this one; this one verifies until its grace period ends',
    }),
    credits: t.field({
      type: Credits,
      nullable: true,
      description: 'Usage credits; null when the key has none (unlimited use)',
      resolve: (key, _args, ctx) => creditsView(key, clockOf(ctx)),
    }),
    rateLimits: t.field({
      type: [RateLimit],
      description: 'Checked together on every verification; empty when the key has none',
      resolve: (key) => key.rateLimits as { name: string; limit: number; windowSeconds: number }[],
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    application: t.relation('application'),
  }),
});

builder.queryField('expiringKeys', (t) =>
  t.withAuth({ merchant: true }).prismaConnection(
    {
      type: ApiKey,
      cursor: 'id',
      description:
        'Keys that are not revoked and expire within the given time from now, newest first (for dashboards; webhooks send key.expiring)',
      args: {
        withinSeconds: t.arg.int({ required: true, description: 'From now; 1 to 31536000 (a year)' }),
      },
      maxSize: pageSize,
      resolve: (query, _root, args, ctx) => keys.listExpiringKeys(ctx, args, query),
      totalCount: (_root, args, ctx) => keys.countExpiringKeys(ctx, args.withinSeconds),
    },
    { name: 'ExpiringKeyConnection' },
    { name: 'ExpiringKeyEdge' },
  ),
);

builder.queryField('unusedKeys', (t) =>
  t.withAuth({ merchant: true }).prismaConnection(
    {
      type: ApiKey,
      cursor: 'id',
      description:
        'Keys that still work but were not used for the given time: created before then and never used since, newest first (key hygiene)',
      args: {
        unusedForSeconds: t.arg.int({ required: true, description: '86400 (a day) to 31536000 (a year)' }),
      },
      maxSize: pageSize,
      resolve: (query, _root, args, ctx) => keys.listUnusedKeys(ctx, args, query),
      totalCount: (_root, args, ctx) => keys.countUnusedKeys(ctx, args.unusedForSeconds),
    },
    { name: 'UnusedKeyConnection' },
    { name: 'UnusedKeyEdge' },
  ),
);

builder.queryField('apiKey', (t) =>
  t.withAuth({ merchant: true }).prismaField({
    type: ApiKey,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => keys.findKey(ctx, args.id, query),
  }),
);

const CreateKeyInput = builder.inputType('CreateKeyInput', {
  fields: (t) => ({
    applicationId: t.id({ required: true }),
    name: t.string({
      required: true,
      validate: nameRule(100),
      description: 'A label for the key; at most 100 characters',
    }),
    websiteUrl: t.string({ validate: websiteUrlRule, description: 'The http(s) site or app that uses the key' }),
    access: t.field({ type: KeyAccess, defaultValue: 'READ_ONLY' }),
    scopes: t.stringList({
      validate: scopesRule,
      description: 'e.g. ["payments:write"]; empty or absent (and no roles): no narrowing',
    }),
    roles: t.idList({ description: `Roles whose scopes the key is granted too; at most ${MAX_ROLES_PER_KEY}` }),
    identityId: t.id({ description: 'The identity (customer, user) it belongs to' }),
    environment: t.field({ type: KeyEnvironment, defaultValue: 'LIVE' }),
    expiresAt: t.field({ type: 'DateTime', validate: futureDateRule, description: 'When the key stops verifying' }),
    credits: t.field({ type: CreditsInput, validate: creditsRule, description: 'Absent: unlimited use' }),
    metadata: t.field({
      type: 'JSON',
      validate: metadataRule,
      description: 'A JSON object (at most 4 KiB, depth 5) returned on every verification: plan, customer, tier…',
    }),
    externalId: t.string({
      validate: externalIdRule,
      description: 'Your own id for the key’s owner, at most 255 characters',
    }),
    rateLimits: t.field({
      type: [RateLimitInput],
      validate: rateLimitsRule,
      description: `At most ${maxRateLimits}, names unique`,
    }),
    ipRules: t.field({
      type: [IpRuleInput],
      validate: ipRulesRule,
      description:
        'Checked in order, the first match decides; the key is limited from its first request (setIpRules replaces them later)',
    }),
    ipDefaultAction: t.field({ type: IpAction, description: 'When no rule matches; default ALLOW' }),
  }),
});

const CreateKeyPayload = builder.objectRef<{ key: ApiKeyRow; secret: string }>('CreateKeyPayload').implement({
  fields: (t) => ({
    key: t.field({ type: ApiKey, resolve: (payload) => payload.key }),
    secret: t.exposeString('secret', {
      description: 'The full key. Shown only here, only once: store it now; it cannot be retrieved again',
    }),
  }),
});

const EditKeyInput = builder.inputType('EditKeyInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string({ validate: nameRule(100) }),
    websiteUrl: t.string({ validate: websiteUrlRule, description: 'null or "" clears it' }),
    access: t.field({ type: KeyAccess }),
    scopes: t.stringList({ validate: scopesRule }),
    roles: t.idList({
      description: `Replaces the key's roles (at most ${MAX_ROLES_PER_KEY}); [] takes every role off`,
    }),
    identityId: t.id({ description: 'Moves it to this identity; null: it belongs to none' }),
    expiresAt: t.field({ type: 'DateTime', validate: futureDateRule, description: 'null removes the expiry' }),
    credits: t.field({
      type: CreditsInput,
      validate: creditsRule,
      description: 'Replaces the credits (unspent reservations of instances are void); null removes them',
    }),
    rateLimits: t.field({
      type: [RateLimitInput],
      validate: rateLimitsRule,
      description: `Replaces the list (at most ${maxRateLimits}, names unique); null or [] removes every limit`,
    }),
    metadata: t.field({ type: 'JSON', validate: metadataRule, description: 'Replaces the metadata; null clears it' }),
    externalId: t.string({ validate: externalIdRule, description: 'null or "" clears it' }),
  }),
});

const RollKeyPayload = builder
  .objectRef<{ key: ApiKeyRow; previousKey: ApiKeyRow; secret: string }>('RollKeyPayload')
  .implement({
    fields: (t) => ({
      key: t.field({ type: ApiKey, resolve: (payload) => payload.key, description: 'The new key' }),
      secret: t.exposeString('secret', {
        description: 'The new key’s secret. Shown only here, only once: store it now; it cannot be retrieved again',
      }),
      previousKey: t.field({
        type: ApiKey,
        resolve: (payload) => payload.previousKey,
        description: 'The key it replaces, which verifies until its grace period ends (its expiresAt)',
      }),
    }),
  });

export const ApiKeyPayload = builder.objectRef<{ key: ApiKeyRow }>('ApiKeyPayload').implement({
  fields: (t) => ({ key: t.field({ type: ApiKey, resolve: (payload) => payload.key }) }),
});

builder.mutationFields((t) => ({
  createKey: t.withAuth({ merchant: true }).field({
    type: CreateKeyPayload,
    args: { input: t.arg({ type: CreateKeyInput, required: true }) },
    errors: { types: [ValidationError, NotFoundError, KeyLimitReachedError, PolicyViolationError] },
    resolve: (_root, { input }, ctx) => keys.createKey(ctx, input),
  }),
  editKey: t.withAuth({ merchant: true }).field({
    type: ApiKeyPayload,
    description: 'Changes the given fields; omitted fields stay as they are',
    args: { input: t.arg({ type: EditKeyInput, required: true }) },
    errors: { types: [ValidationError, NotFoundError, KeyRevokedError, PolicyViolationError] },
    resolve: async (_root, { input }, ctx) => {
      for (const field of ['name', 'access', 'scopes', 'roles'] as const) {
        if (input[field] === null) throw new ValidationError([{ path: ['input', field], message: 'must not be null' }]);
      }
      return { key: await keys.editKey(ctx, input) };
    },
  }),
  rollKey: t.withAuth({ merchant: true }).field({
    type: RollKeyPayload,
    description:
      'Replaces a key with a new secret that has everything the old key had (credits and rate limits move to it); the old key keeps verifying for the grace period, then is EXPIRED',
    args: {
      input: t.arg({
        type: builder.inputType('RollKeyInput', {
          fields: (f) => ({
            id: f.id({ required: true }),
            gracePeriodSeconds: f.int({
              defaultValue: 0,
              validate: gracePeriodRule,
              description: `How long the old key keeps verifying: 0 (refused at once) to ${MAX_GRACE_SECONDS} (7 days)`,
            }),
            expiresAt: f.field({
              type: 'DateTime',
              validate: futureDateRule,
              description: "The new key's expiry; absent: the old key's (null: none)",
            }),
          }),
        }),
        required: true,
      }),
    },
    errors: { types: [NotFoundError, KeyRevokedError, ValidationError, PolicyViolationError] },
    resolve: (_root, { input }, ctx) => keys.rollKey(ctx, input.id, input.gracePeriodSeconds ?? 0, input.expiresAt),
  }),
  setKeyEnabled: t.withAuth({ merchant: true }).field({
    type: ApiKeyPayload,
    description: 'Disables a key (refused with KEY_DISABLED) or enables it again; unlike revocation, reversible',
    args: {
      input: t.arg({
        type: builder.inputType('SetKeyEnabledInput', {
          fields: (f) => ({ id: f.id({ required: true }), enabled: f.boolean({ required: true }) }),
        }),
        required: true,
      }),
    },
    errors: { types: [NotFoundError, KeyRevokedError] },
    resolve: async (_root, { input }, ctx) => ({ key: await keys.setKeyEnabled(ctx, input.id, input.enabled) }),
  }),
  revokeKey: t.withAuth({ merchant: true }).field({
    type: ApiKeyPayload,
    description: 'Stops the key from verifying, at once and for good',
    args: {
      input: t.arg({
        type: builder.inputType('RevokeKeyInput', { fields: (f) => ({ id: f.id({ required: true }) }) }),
        required: true,
      }),
    },
    errors: { types: [NotFoundError, KeyRevokedError] },
    resolve: async (_root, { input }, ctx) => ({ key: await keys.revokeKey(ctx, input.id) }),
  }),
}));
