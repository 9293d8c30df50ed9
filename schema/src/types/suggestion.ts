// Least privilege from observed use: ApiKey.suggestion and applySuggestion.

import type { MerchantContext } from '@keygate/services/context';
import { KeyRevokedError, NotFoundError, ValidationError } from '@keygate/services/errors';
import * as suggestions from '@keygate/services/suggestions';
import { builder } from '../builder.ts';
import { ApiKey, ApiKeyPayload, KeyAccess } from './api-key.ts';
import { ErrorInterface } from './common.ts';

const SuggestionKind = builder.enumType('SuggestionKind', {
  values: {
    NARROW: { description: 'Its use needed less access or fewer scopes than it has' },
    REVOKE_UNUSED: { description: 'No verification passed with it in the window' },
  } as const,
});

const ObservedScope = builder.objectRef<suggestions.ObservedScope>('ObservedScope').implement({
  fields: (t) => ({
    scope: t.exposeString('scope'),
    count: t.exposeInt('count', { description: 'Valid verifications that named it' }),
    firstSeen: t.field({ type: 'DateTime', resolve: (entry) => entry.firstSeen, description: 'The hour first seen' }),
    lastSeen: t.field({ type: 'DateTime', resolve: (entry) => entry.lastSeen, description: 'The hour last seen' }),
  }),
});

const SuggestionEvidence = builder.objectRef<suggestions.Evidence>('SuggestionEvidence').implement({
  description: "What the key's valid verifications needed in the window",
  fields: (t) => ({
    verifications: t.exposeInt('verifications'),
    readOnly: t.exposeInt('readOnly', { description: 'Of them, those that needed reading only' }),
    fullAccess: t.exposeInt('fullAccess', { description: 'Of them, those that needed FULL_ACCESS' }),
    firstSeen: t.field({ type: 'DateTime', nullable: true, resolve: (evidence) => evidence.firstSeen }),
    lastSeen: t.field({ type: 'DateTime', nullable: true, resolve: (evidence) => evidence.lastSeen }),
    scopes: t.field({
      type: [ObservedScope],
      description: 'The scopes they named that the key grants, most used first',
      resolve: (evidence) => evidence.scopes,
    }),
  }),
});

const KeySuggestion = builder.objectRef<suggestions.Suggestion>('KeySuggestion').implement({
  description: 'A narrower key its observed use allows, or a revocation of an unused key, with the evidence',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'What applySuggestion takes' }),
    kind: t.field({ type: SuggestionKind, resolve: (suggestion) => suggestion.kind }),
    message: t.exposeString('message'),
    access: t.field({ type: KeyAccess, resolve: (suggestion) => suggestion.access }),
    scopes: t.exposeStringList('scopes', { description: "The key's own scopes it would set (roles stay)" }),
    windowDays: t.exposeInt('windowDays'),
    evidence: t.field({ type: SuggestionEvidence, resolve: (suggestion) => suggestion.evidence }),
  }),
});

builder.objectFields(ApiKey, (t) => ({
  suggestion: t.field({
    type: KeySuggestion,
    nullable: true,
    description:
      'Least privilege from observed use: null while the key is younger than the window, or as narrow as its use',
    resolve: (key, _args, ctx) => (ctx.viewer ? suggestions.suggestionFor(ctx as MerchantContext, key) : null),
  }),
}));

builder.objectType(suggestions.SuggestionOutdatedError, {
  name: 'SuggestionOutdatedError',
  interfaces: [ErrorInterface],
  description: 'Use observed since needs more than the suggestion allows; nothing was changed',
  fields: (t) => ({ keyId: t.exposeID('keyId') }),
});

builder.mutationField('applySuggestion', (t) =>
  t.withAuth({ merchant: true }).field({
    type: ApiKeyPayload,
    description:
      'Narrows the key as its suggestion says (or revokes an unused key), unless use needing more was observed since',
    args: {
      input: t.arg({
        type: builder.inputType('ApplySuggestionInput', {
          fields: (f) => ({
            keyId: f.id({ required: true }),
            suggestionId: f.id({ required: true, description: 'KeySuggestion.id, as shown' }),
          }),
        }),
        required: true,
      }),
    },
    errors: {
      types: [NotFoundError, KeyRevokedError, ValidationError, suggestions.SuggestionOutdatedError],
    },
    resolve: async (_root, { input }, ctx) => ({
      key: await suggestions.applySuggestion(ctx, input.keyId, input.suggestionId),
    }),
  }),
);
