// Importing keys issued elsewhere, by the hash of their secrets: import prefixes and importKeys.

import { KeyLimitReachedError, NotFoundError, PolicyViolationError, ValidationError } from '@keygate/services/errors';
import * as imports from '@keygate/services/imports';
import type { ImportPrefix as ImportPrefixRow } from '@keygate/services/prisma';
import {
  creditsRule,
  externalIdRule,
  futureDateRule,
  metadataRule,
  nameRule,
  rateLimitsRule,
  scopesRule,
  websiteUrlRule,
} from '@keygate/services/validation';
import { builder } from '../builder.ts';
import { KeyAccess, KeyEnvironment } from './api-key.ts';
import { CreditsInput, RateLimitInput } from './metering.ts';

const ImportPrefix = builder.objectRef<ImportPrefixRow>('ImportPrefix').implement({
  description:
    'The visible start of keys you import (e.g. sk_live_): strings that start with none of these and are no Keygate key are refused as MALFORMED without a lookup',
  fields: (t) => ({
    prefix: t.exposeString('prefix'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const HashAlgorithm = builder.enumType('HashAlgorithm', {
  values: {
    SHA256_HEX: { description: 'SHA-256 of the whole secret, as 64 hex digits' },
    SHA256_BASE64: { description: 'SHA-256 of the whole secret, as base64 (standard or URL-safe)' },
  },
});

const ImportPrefixPayload = builder.objectRef<{ importPrefix: ImportPrefixRow }>('ImportPrefixPayload').implement({
  fields: (t) => ({ importPrefix: t.field({ type: ImportPrefix, resolve: (payload) => payload.importPrefix }) }),
});

const ImportKeysPayload = builder.objectRef<imports.ImportKeysResult>('ImportKeysPayload').implement({
  fields: (t) => ({
    imported: t.exposeInt('imported', { description: 'Keys created by this call' }),
    skipped: t.exposeInt('skipped', {
      description: 'Keys the application already had with the same hash (the import was repeated): left as they are',
    }),
  }),
});

const ImportKeyInput = builder.inputType('ImportKeyInput', {
  description: 'A key issued elsewhere: the hash of its secret and what createKey takes',
  fields: (t) => ({
    hash: t.string({ required: true, description: 'SHA-256 of the whole secret the client presents' }),
    hashAlgorithm: t.field({ type: HashAlgorithm, defaultValue: 'SHA256_HEX' }),
    prefix: t.string({
      required: true,
      description:
        'Its visible start, to recognise it in a list (e.g. sk_live_4eC3): begins with a registered import prefix; at most 32 characters',
    }),
    name: t.string({ required: true, validate: nameRule(100) }),
    websiteUrl: t.string({ validate: websiteUrlRule }),
    access: t.field({ type: KeyAccess, defaultValue: 'READ_ONLY' }),
    scopes: t.stringList({ validate: scopesRule }),
    environment: t.field({ type: KeyEnvironment, defaultValue: 'LIVE' }),
    expiresAt: t.field({ type: 'DateTime', validate: futureDateRule }),
    credits: t.field({ type: CreditsInput, validate: creditsRule }),
    rateLimits: t.field({ type: [RateLimitInput], validate: rateLimitsRule }),
    metadata: t.field({ type: 'JSON', validate: metadataRule }),
    externalId: t.string({ validate: externalIdRule }),
    identityId: t.id({ description: 'The identity it belongs to' }),
  }),
});

builder.queryField('importPrefixes', (t) =>
  t.withAuth({ merchant: true }).field({
    type: [ImportPrefix],
    description: 'The prefixes of keys you import, in order',
    resolve: (_root, _args, ctx) => imports.listImportPrefixes(ctx),
  }),
);

const prefixInput = (name: string) =>
  builder.inputType(name, {
    fields: (f) => ({
      prefix: f.string({ required: true, description: 'e.g. sk_live_: 2-32 letters, digits, _ or -' }),
    }),
  });

builder.mutationFields((t) => ({
  registerImportPrefix: t.withAuth({ merchant: true }).field({
    type: ImportPrefixPayload,
    description: 'Registers the visible start of keys you will import; every instance knows it when this returns',
    args: { input: t.arg({ type: prefixInput('RegisterImportPrefixInput'), required: true }) },
    errors: { types: [ValidationError] },
    resolve: async (_root, { input }, ctx) => ({ importPrefix: await imports.registerImportPrefix(ctx, input.prefix) }),
  }),
  removeImportPrefix: t.withAuth({ merchant: true }).field({
    type: ImportPrefixPayload,
    description: 'Removes an import prefix that no imported key (not revoked) starts with',
    args: { input: t.arg({ type: prefixInput('RemoveImportPrefixInput'), required: true }) },
    errors: { types: [ValidationError] },
    resolve: async (_root, { input }, ctx) => ({ importPrefix: await imports.removeImportPrefix(ctx, input.prefix) }),
  }),
  importKeys: t.withAuth({ merchant: true }).field({
    type: ImportKeysPayload,
    description: `Brings in up to ${imports.MAX_IMPORT_BATCH} keys issued elsewhere, by the hash of their secrets, all or nothing; repeated, it skips the keys already imported`,
    args: {
      input: t.arg({
        type: builder.inputType('ImportKeysInput', {
          fields: (f) => ({
            applicationId: f.id({ required: true }),
            keys: f.field({ type: [ImportKeyInput], required: true }),
          }),
        }),
        required: true,
      }),
    },
    errors: { types: [ValidationError, NotFoundError, KeyLimitReachedError, PolicyViolationError] },
    resolve: (_root, { input }, ctx) => imports.importKeys(ctx, input),
  }),
}));
