// verifyKey: the GraphQL face of the verification path, for services and for
// merchants checking their own keys.

import {
  globalId,
  METERING_BOUNDS,
  type PermissionExpression,
  parseIp,
  parsePermissions,
  VERIFY_CODES,
  type VerifiableKey,
  type VerifyCode,
  type VerifyOutcome,
} from '@keygate/core';
import { ValidationError } from '@keygate/services/errors';
import { costRule, permissionsRule, scopesRule } from '@keygate/services/validation';
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import { builder } from '../builder.ts';
import { KeyAccess, KeyEnvironment } from './api-key.ts';

const CODE_DESCRIPTIONS: Record<VerifyCode, string> = {
  VALID: 'Accepted',
  MALFORMED: 'Not shaped like a Keygate key, or its checksum fails (decided without a lookup)',
  NOT_FOUND: 'No such key (for a merchant token: none of its own)',
  REVOKED: 'Revoked: never verifies again',
  KEY_DISABLED: 'Disabled by its merchant (setKeyEnabled); verifies again once enabled',
  EXPIRED: 'Past its expiry',
  APPLICATION_DISABLED: 'Its application is disabled',
  IP_DENIED: "Its IP rules refuse the client's address",
  INSUFFICIENT_ACCESS: 'A read-only key where full access is required',
  INSUFFICIENT_SCOPE: "The key's scopes do not cover every required scope, or do not satisfy requiredPermissions",
  USAGE_EXCEEDED: "The key's credits do not cover this verification's cost (see creditsRemaining)",
  RATE_LIMITED:
    "One of the key's own rate limits is used up until its window resets (see rateLimits, retryAfterSeconds)",
  TOO_MANY_FAILURES: 'The client address guessed wrong too often lately; see retryAfterSeconds',
};

export const VerifyCodeEnum = builder.enumType('VerifyCode', {
  values: Object.fromEntries(VERIFY_CODES.map((code) => [code, { description: CODE_DESCRIPTIONS[code] }])) as Record<
    VerifyCode,
    { description: string }
  >,
  description: 'Why a key was accepted or refused; checks run in the order listed in docs/verification.md',
});

/** Metadata parsed once per cached key object. */
const parsedMetadata = new WeakMap<VerifiableKey, unknown>();
function metadataOf(key: VerifiableKey): unknown {
  if (key.metadata === null) return null;
  let parsed = parsedMetadata.get(key);
  if (parsed === undefined) {
    parsed = JSON.parse(key.metadata);
    parsedMetadata.set(key, parsed);
  }
  return parsed;
}

/** A key's identity as verifications answer with it, made once per cached key object. */
const identities = new WeakMap<VerifiableKey, VerifiedIdentityValue | null>();
export interface VerifiedIdentityValue {
  id: string;
  externalId: string;
  metadata: unknown;
}
function identityOf(key: VerifiableKey): VerifiedIdentityValue | null {
  let identity = identities.get(key);
  if (identity === undefined) {
    identity = key.identity
      ? {
          id: globalId('Identity', key.identity.id),
          externalId: key.identity.externalId,
          metadata: key.identity.metadata === null ? null : JSON.parse(key.identity.metadata),
        }
      : null;
    identities.set(key, identity);
  }
  return identity;
}

const whenValid =
  <T>(pick: (key: VerifiableKey) => T) =>
  (outcome: VerifyOutcome): T | null =>
    outcome.code === 'VALID' && outcome.key ? pick(outcome.key) : null;

/**
 * The value of each KeyVerification field. Shared with the server's fast path
 * for verifyKey, so both produce the same answer.
 */
export const keyVerificationFields = {
  valid: (outcome: VerifyOutcome) => outcome.code === 'VALID',
  code: (outcome: VerifyOutcome) => outcome.code,
  keyId: whenValid((key) => globalId('ApiKey', key.id)),
  prefix: whenValid((key) => key.prefix),
  applicationId: whenValid((key) => globalId('Application', key.applicationId)),
  merchantId: whenValid((key) => key.merchantId),
  environment: whenValid((key) => key.environment),
  access: whenValid((key) => key.access),
  scopes: whenValid((key) => [...key.scopes]),
  metadata: whenValid(metadataOf),
  externalId: whenValid((key) => key.externalId),
  identity: whenValid(identityOf),
  retryAfterSeconds: (outcome: VerifyOutcome) => outcome.retryAfterSeconds ?? null,
  creditsRemaining: (outcome: VerifyOutcome) => outcome.creditsRemaining ?? null,
  rateLimits: (outcome: VerifyOutcome) =>
    outcome.rateLimits?.map((limit) => ({ ...limit, resetAt: new Date(limit.resetAt) })) ?? null,
};

export const RateLimitState = builder
  .objectRef<{ name: string; limit: number; remaining: number; resetAt: Date; exceeded: boolean }>('RateLimitState')
  .implement({
    description: 'One of a key’s rate limits after a verification',
    fields: (t) => ({
      name: t.exposeString('name'),
      limit: t.exposeInt('limit'),
      remaining: t.exposeInt('remaining', {
        description: 'Left in the current window (with several instances, never more than the truth)',
      }),
      resetAt: t.expose('resetAt', { type: 'DateTime', description: 'When the current window ends' }),
      exceeded: t.exposeBoolean('exceeded', { description: 'This limit refused the verification' }),
    }),
  });

const VerifiedIdentity = builder.objectRef<VerifiedIdentityValue>('VerifiedIdentity').implement({
  description: 'The identity a verified key belongs to',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The Identity’s id' }),
    externalId: t.exposeString('externalId', { description: 'The merchant’s own id for it' }),
    metadata: t.field({
      type: 'JSON',
      nullable: true,
      description: 'The identity’s metadata, as its merchant set it',
      resolve: (identity) => identity.metadata,
    }),
  }),
});

const KeyVerification = builder.objectRef<VerifyOutcome>('KeyVerification').implement({
  description: 'The outcome of a verification; the identity fields are set when `valid` is true',
  fields: (t) => ({
    valid: t.boolean({ resolve: keyVerificationFields.valid }),
    code: t.field({ type: VerifyCodeEnum, resolve: keyVerificationFields.code }),
    keyId: t.id({ nullable: true, resolve: keyVerificationFields.keyId }),
    prefix: t.string({ nullable: true, resolve: keyVerificationFields.prefix }),
    applicationId: t.id({ nullable: true, resolve: keyVerificationFields.applicationId }),
    merchantId: t.string({ nullable: true, resolve: keyVerificationFields.merchantId }),
    environment: t.field({ type: KeyEnvironment, nullable: true, resolve: keyVerificationFields.environment }),
    access: t.field({ type: KeyAccess, nullable: true, resolve: keyVerificationFields.access }),
    scopes: t.stringList({ nullable: true, resolve: keyVerificationFields.scopes }),
    metadata: t.field({
      type: 'JSON',
      nullable: true,
      description: 'The key’s metadata, as its merchant set it',
      resolve: keyVerificationFields.metadata,
    }),
    externalId: t.string({
      nullable: true,
      description: 'The merchant’s own id for the key’s owner',
      resolve: keyVerificationFields.externalId,
    }),
    identity: t.field({
      type: VerifiedIdentity,
      nullable: true,
      description: 'The identity (customer, user) the key belongs to, if any',
      resolve: keyVerificationFields.identity,
    }),
    retryAfterSeconds: t.int({
      nullable: true,
      description:
        'Seconds until trying again can succeed: with TOO_MANY_FAILURES (this client address), RATE_LIMITED (the window resets), USAGE_EXCEEDED (the next refill)',
      resolve: keyVerificationFields.retryAfterSeconds,
    }),
    creditsRemaining: t.int({
      nullable: true,
      description:
        'Keys with credits: what is left after this verification (with several instances, never more than the truth)',
      resolve: keyVerificationFields.creditsRemaining,
    }),
    rateLimits: t.field({
      type: [RateLimitState],
      nullable: true,
      description: 'Keys with rate limits: each limit after this verification',
      resolve: keyVerificationFields.rateLimits,
    }),
  }),
});

export const verifyKeyIpRule = z.string().refine((ip) => parseIp(ip) !== null, 'must be an IPv4 or IPv6 address');

/** The parsed expression (validated by permissionsRule before the resolver runs), or null. */
function permissionsOf(text: string | null | undefined): PermissionExpression | null {
  if (text == null) return null;
  const parsed = parsePermissions(text);
  if (!parsed.ok) throw new GraphQLError('requiredPermissions did not parse');
  return parsed.value;
}

const VerifyKeyInput = builder.inputType('VerifyKeyInput', {
  fields: (t) => ({
    key: t.string({ required: true, description: 'The key as presented by the client' }),
    ip: t.string({ description: 'Client address, checked against the key’s IP rules', validate: verifyKeyIpRule }),
    requiredAccess: t.field({ type: KeyAccess, description: 'FULL_ACCESS refuses read-only keys' }),
    requiredScopes: t.stringList({ validate: scopesRule, description: 'Every one must be granted by the key' }),
    requiredPermissions: t.string({
      validate: permissionsRule,
      description:
        'A permission expression the key’s scopes must satisfy, e.g. "orders.read AND (refunds.write OR admin)": AND, OR (AND binds tighter), parentheses, scopes matched as in requiredScopes (wildcards included). At most 1,000 characters, 50 scopes and 8 levels of parentheses. A malformed one is a ValidationError whose message starts with BAD_REQUIREMENTS and names the position.',
    }),
    cost: t.int({
      validate: costRule,
      description: `Credits this verification spends on a key with credits: default 1, 0 spends none, at most ${METERING_BOUNDS.maxCost}`,
    }),
  }),
});

builder.mutationField('verifyKey', (t) =>
  t.field({
    type: KeyVerification,
    description:
      'Checks a presented key. Services (a token with keygate_role "verifier") may check any key; a merchant only its own. Records last use.',
    skipTypeScopes: true,
    authScopes: { $any: { merchant: true, verifier: true } },
    args: { input: t.arg({ type: VerifyKeyInput, required: true }) },
    errors: { types: [ValidationError] },
    resolve: async (_root, { input }, ctx) => {
      if (!ctx.verifier) throw new GraphQLError('verification is not available on this server');
      // The verifier takes canonical addresses ("2001:DB8::1" → "2001:db8::1").
      const ip = input.ip ? (parseIp(input.ip)?.toString() ?? null) : null;
      const request = {
        key: input.key,
        ip,
        requiredAccess: input.requiredAccess,
        requiredScopes: input.requiredScopes,
        requiredPermissions: permissionsOf(input.requiredPermissions),
        cost: input.cost,
      };
      // A service verifies for everyone; a merchant token only sees its own keys. The scopes
      // admit nobody else, and if they ever did, nothing would be verified for them.
      if (ctx.service) return ctx.verifier.verify(request);
      if (!ctx.viewer) throw new GraphQLError('verifyKey needs a service or a merchant token');
      return ctx.verifier.verify(request, { merchantId: ctx.viewer.merchantId });
    },
  }),
);
