// The Keygate client: one typed method per operation, grouped by noun.
import { Client, type DocumentInput, fetchExchange } from '@urql/core';
import { checkToken, toRequestError } from './errors.ts';
import {
  AnomaliesDocument,
  type AnomalyResponsesInput,
  ApiKeyDocument,
  ApplicationDocument,
  ApplicationKeysDocument,
  type ApplicationKeysQueryVariables,
  ApplicationsDocument,
  type ApplicationsQueryVariables,
  ApplicationUsageDocument,
  ApplySuggestionDocument,
  AuditEventsDocument,
  type AuditEventsQueryVariables,
  CreateApplicationDocument,
  type CreateApplicationInput,
  CreateIdentityDocument,
  type CreateIdentityInput,
  CreateKeyDocument,
  type CreateKeyInput,
  CreateRoleDocument,
  type CreateRoleInput,
  CreateWebhookEndpointDocument,
  type CreateWebhookEndpointInput,
  DeleteIdentityDocument,
  DeleteRoleDocument,
  DeleteWebhookEndpointDocument,
  EditKeyDocument,
  type EditKeyInput,
  IdentitiesDocument,
  type IdentitiesQueryVariables,
  IdentityDocument,
  IdentityUsageDocument,
  ImportKeysDocument,
  type ImportKeysInput,
  ImportPrefixesDocument,
  type KeyPolicyInput,
  KeySuggestionDocument,
  KeyUsageDocument,
  PolicyDocument,
  RegisterImportPrefixDocument,
  RemoveImportPrefixDocument,
  RevokeKeyDocument,
  RoleDocument,
  RolesDocument,
  type RolesQueryVariables,
  RollKeyDocument,
  RotateWebhookSecretDocument,
  SendTestWebhookDocument,
  SetAnomalyResponsesDocument,
  SetApplicationEnabledDocument,
  SetIpRulesDocument,
  type SetIpRulesInput,
  SetKeyEnabledDocument,
  SetPolicyDocument,
  UpdateApplicationDocument,
  type UpdateApplicationInput,
  UpdateIdentityDocument,
  type UpdateIdentityInput,
  UpdateRoleDocument,
  type UpdateRoleInput,
  UpdateWebhookEndpointDocument,
  type UpdateWebhookEndpointInput,
  type UsageGranularity,
  VerifyKeyDocument,
  type VerifyKeyInput,
  ViewerDocument,
  WebhookDeliveriesDocument,
  type WebhookDeliveriesQueryVariables,
  WebhookEndpointsDocument,
  type WebhookEndpointsQueryVariables,
} from './generated/graphql.ts';
import { walk } from './pagination.ts';
import { split } from './result.ts';

// Optional options also accept `undefined`, so `token: process.env.KEYGATE_TOKEN` compiles
// under exactOptionalPropertyTypes.
export interface KeygateClientOptions {
  /** The GraphQL endpoint, e.g. https://keygate.example.com/graphql */
  url: string;
  /** A bearer token (merchant JWT, or a service token for keys.verify). */
  token?: string | undefined;
  /** Called before every request instead of `token`, e.g. to refresh a short-lived token. */
  getToken?: (() => string | undefined | Promise<string | undefined>) | undefined;
  /** A fetch implementation; the global one by default. */
  fetch?: typeof fetch | undefined;
}

/** A time range for usage: [from, to) as ISO 8601 strings, by HOUR (default, ≤ 31 days) or DAY (≤ 400 days). */
export interface UsageRange {
  from: string;
  to: string;
  granularity?: UsageGranularity | undefined;
}

type Filter<V> = Omit<V, 'first' | 'after' | 'last' | 'before'> & { pageSize?: number | undefined };

export function createKeygateClient(options: KeygateClientOptions) {
  if (!options.fetch && typeof globalThis.fetch !== 'function') {
    throw new TypeError('createKeygateClient: no fetch available; pass options.fetch');
  }
  // Browsers refuse a detached window.fetch ("Illegal invocation"): always call it on globalThis.
  const baseFetch: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  // A fixed token is checked at once; one from getToken before each request.
  if (options.token !== undefined) checkToken(options.token);
  const tokenFor = options.getToken ?? (() => options.token);
  const urql = new Client({
    url: options.url,
    exchanges: [fetchExchange],
    preferGetMethod: false,
    requestPolicy: 'network-only',
    fetch: async (input, init) => {
      const token = await tokenFor();
      const headers = new Headers(init?.headers);
      if (token !== undefined) {
        checkToken(token);
        headers.set('authorization', `Bearer ${token}`);
      }
      return baseFetch(input, { ...init, headers });
    },
  });

  async function query<D, V extends object>(document: DocumentInput<D, V>, variables: V): Promise<D> {
    const result = await urql.query(document, variables).toPromise();
    if (result.error || !result.data)
      throw toRequestError(result.error ?? { message: 'empty response', graphQLErrors: [] }, options.url);
    return result.data;
  }

  async function mutate<D, V extends object>(document: DocumentInput<D, V>, variables: V): Promise<D> {
    const result = await urql.mutation(document, variables).toPromise();
    if (result.error || !result.data)
      throw toRequestError(result.error ?? { message: 'empty response', graphQLErrors: [] }, options.url);
    return result.data;
  }

  const applications = {
    /** One page of the merchant's applications, newest first. */
    list: async (variables: ApplicationsQueryVariables = {}) =>
      (await query(ApplicationsDocument, variables)).applications,
    /** Every application, fetched page by page: `for await (const app of client.applications.all())`. */
    all: ({ pageSize = 50, ...filter }: Filter<ApplicationsQueryVariables> = {}) =>
      walk((after) => applications.list({ ...filter, first: pageSize, after })),
    /** null when there is no such application (or it belongs to someone else). */
    get: async (id: string) => (await query(ApplicationDocument, { id })).application,
    /** Verifications of the application's keys per hour or day and outcome; null for an unknown application. */
    usage: async (id: string, range: UsageRange) =>
      (await query(ApplicationUsageDocument, { id, ...range })).application?.usage ?? null,
    create: async (input: CreateApplicationInput) =>
      split(
        (await mutate(CreateApplicationDocument, { input })).createApplication,
        'ApplicationPayload',
        (p) => p.application,
      ),
    update: async (input: UpdateApplicationInput) =>
      split(
        (await mutate(UpdateApplicationDocument, { input })).updateApplication,
        'ApplicationPayload',
        (p) => p.application,
      ),
    /** While disabled, none of the application's keys verify. */
    setEnabled: async (id: string, enabled: boolean) =>
      split(
        (await mutate(SetApplicationEnabledDocument, { input: { id, enabled } })).setApplicationEnabled,
        'ApplicationPayload',
        (p) => p.application,
      ),
  };

  const keys = {
    /** One page of an application's keys, newest first; null when there is no such application. */
    list: async (variables: ApplicationKeysQueryVariables) =>
      (await query(ApplicationKeysDocument, variables)).application?.keys ?? null,
    /** Every key of an application (optionally of some statuses), page by page. */
    all: (
      applicationId: string,
      { pageSize = 50, ...filter }: Filter<Omit<ApplicationKeysQueryVariables, 'applicationId'>> = {},
    ) => walk((after) => keys.list({ ...filter, applicationId, first: pageSize, after })),
    get: async (id: string) => (await query(ApiKeyDocument, { id })).apiKey,
    /**
     * Verifications of the key per hour or day and outcome, and its latest refusals (newest
     * first, `refusals` of them, default 20, at most 100); null for an unknown key.
     */
    usage: async (id: string, range: UsageRange & { refusals?: number | undefined }) => {
      const key = (await query(KeyUsageDocument, { id, ...range })).apiKey;
      return key ? { buckets: key.usage, recentRefusals: key.recentRefusals } : null;
    },
    /** On success, `value.secret` is the full key: shown this once, never again. */
    create: async (input: CreateKeyInput) =>
      split((await mutate(CreateKeyDocument, { input })).createKey, 'CreateKeyPayload', ({ key, secret }) => ({
        key,
        secret,
      })),
    edit: async (input: EditKeyInput) =>
      split((await mutate(EditKeyDocument, { input })).editKey, 'ApiKeyPayload', (p) => p.key),
    /**
     * A new secret for the key, with everything else copied (credits and rate limits move to it);
     * the old secret keeps verifying for `gracePeriodSeconds` (default 0, at most 7 days). On
     * success, `value.secret` is the new key: shown this once, never again.
     */
    roll: async (id: string, { gracePeriodSeconds }: { gracePeriodSeconds?: number } = {}) =>
      split(
        (await mutate(RollKeyDocument, { input: { id, gracePeriodSeconds } })).rollKey,
        'RollKeyPayload',
        ({ key, secret, previousKey }) => ({ key, secret, previousKey }),
      ),
    /** A disabled key answers KEY_DISABLED until enabled again (unlike revocation, reversible). */
    setEnabled: async (id: string, enabled: boolean) =>
      split(
        (await mutate(SetKeyEnabledDocument, { input: { id, enabled } })).setKeyEnabled,
        'ApiKeyPayload',
        (p) => p.key,
      ),
    /** Final: a revoked key never verifies again. */
    revoke: async (id: string) =>
      split((await mutate(RevokeKeyDocument, { input: { id } })).revokeKey, 'ApiKeyPayload', (p) => p.key),
    /** Replaces the whole ordered rule list and the default action. */
    setIpRules: async (input: SetIpRulesInput) =>
      split((await mutate(SetIpRulesDocument, { input })).setIpRules, 'ApiKeyPayload', (p) => p.key),
    /** The visible starts of keys you import (e.g. sk_live_). */
    importPrefixes: async () => (await query(ImportPrefixesDocument, {})).importPrefixes,
    /** Registers the visible start of keys you will import; strings starting with none are MALFORMED without a lookup. */
    registerImportPrefix: async (prefix: string) =>
      split(
        (await mutate(RegisterImportPrefixDocument, { input: { prefix } })).registerImportPrefix,
        'ImportPrefixPayload',
        (p) => p.importPrefix,
      ),
    removeImportPrefix: async (prefix: string) =>
      split(
        (await mutate(RemoveImportPrefixDocument, { input: { prefix } })).removeImportPrefix,
        'ImportPrefixPayload',
        (p) => p.importPrefix,
      ),
    /**
     * Brings in up to 1,000 keys issued elsewhere by the hashes of their secrets, all or nothing;
     * repeated, it skips what is already there: `value.imported`, `value.skipped`.
     */
    import: async (input: ImportKeysInput) =>
      split((await mutate(ImportKeysDocument, { input })).importKeys, 'ImportKeysPayload', ({ imported, skipped }) => ({
        imported,
        skipped,
      })),
    /**
     * Least privilege from observed use: the narrower key (or revocation) its use in the window
     * allows, with the evidence, and its anomalies; null for a key that is not the merchant's.
     */
    suggestion: async (id: string) => {
      const node = (await query(KeySuggestionDocument, { id })).node;
      return node && 'suggestion' in node ? { suggestion: node.suggestion, anomalies: node.anomalies } : null;
    },
    /** Applies a suggestion as shown (its id); refused (SuggestionOutdatedError) when use since needs more. */
    applySuggestion: async (keyId: string, suggestionId: string) =>
      split(
        (await mutate(ApplySuggestionDocument, { input: { keyId, suggestionId } })).applySuggestion,
        'ApiKeyPayload',
        ({ key }) => key,
      ),
    /** Checks a presented key (service token: any key; merchant token: its own keys). */
    verify: async (input: VerifyKeyInput) => {
      const result = (await mutate(VerifyKeyDocument, { input })).verifyKey;
      if (result.__typename === 'KeyVerification') return { ok: true as const, value: result };
      const { errorCode, ...rest } = result;
      return { ok: false as const, error: { ...rest, code: errorCode } };
    },
  };

  const webhooks = {
    /** One page of the merchant's webhook endpoints, newest first. */
    list: async (variables: WebhookEndpointsQueryVariables = {}) =>
      (await query(WebhookEndpointsDocument, variables)).webhookEndpoints,
    /** On success, `value.signingSecret` (whsec_…) is shown this once: verify deliveries with it (verifyWebhook). */
    create: async (input: CreateWebhookEndpointInput) =>
      split(
        (await mutate(CreateWebhookEndpointDocument, { input })).createWebhookEndpoint,
        'CreateWebhookEndpointPayload',
        ({ endpoint, signingSecret }) => ({ endpoint, signingSecret }),
      ),
    update: async (input: UpdateWebhookEndpointInput) =>
      split(
        (await mutate(UpdateWebhookEndpointDocument, { input })).updateWebhookEndpoint,
        'WebhookEndpointPayload',
        (p) => p.endpoint,
      ),
    delete: async (id: string) =>
      split(
        (await mutate(DeleteWebhookEndpointDocument, { input: { id } })).deleteWebhookEndpoint,
        'DeleteWebhookEndpointPayload',
        (p) => p.id,
      ),
    /** A new signing secret, shown this once; deliveries are signed with it from now on. */
    rotateSecret: async (id: string) =>
      split(
        (await mutate(RotateWebhookSecretDocument, { input: { id } })).rotateWebhookSecret,
        'CreateWebhookEndpointPayload',
        ({ endpoint, signingSecret }) => ({ endpoint, signingSecret }),
      ),
    /** Sends a webhook.test event to this endpoint alone. */
    sendTest: async (id: string) =>
      split(
        (await mutate(SendTestWebhookDocument, { input: { id } })).sendTestWebhook,
        'SendTestWebhookPayload',
        (p) => p.delivery,
      ),
    /** One page of an endpoint's deliveries, newest first; null for an unknown endpoint. */
    deliveries: async (id: string, variables: Omit<WebhookDeliveriesQueryVariables, 'id'> = {}) => {
      const node = (await query(WebhookDeliveriesDocument, { id, ...variables })).node;
      return node && 'deliveries' in node ? node.deliveries : null;
    },
  };

  const roles = {
    /** One page of the merchant's roles, newest first. */
    list: async (variables: RolesQueryVariables = {}) => (await query(RolesDocument, variables)).roles,
    /** Every role, page by page. */
    all: ({ pageSize = 50, ...filter }: Filter<RolesQueryVariables> = {}) =>
      walk((after) => roles.list({ ...filter, first: pageSize, after })),
    /** null when there is no such role (or it belongs to someone else). */
    get: async (id: string) => (await query(RoleDocument, { id })).role,
    /** A named set of scopes (at least one); give it to keys with `keys.create/edit({ roles })`. */
    create: async (input: CreateRoleInput) =>
      split((await mutate(CreateRoleDocument, { input })).createRole, 'RolePayload', (p) => p.role),
    /** New scopes reach every key with the role on its next verification, on every instance. */
    update: async (input: UpdateRoleInput) =>
      split((await mutate(UpdateRoleDocument, { input })).updateRole, 'RolePayload', (p) => p.role),
    /** Refused with ROLE_IN_USE while keys that are not revoked have it. */
    delete: async (id: string) =>
      split((await mutate(DeleteRoleDocument, { input: { id } })).deleteRole, 'RolePayload', (p) => p.role),
  };

  const identities = {
    /** One page of the merchant's identities, newest first (search: external id or name contains). */
    list: async (variables: IdentitiesQueryVariables = {}) => (await query(IdentitiesDocument, variables)).identities,
    /** Every identity, page by page. */
    all: ({ pageSize = 50, ...filter }: Filter<IdentitiesQueryVariables> = {}) =>
      walk((after) => identities.list({ ...filter, first: pageSize, after })),
    /** The identity with its first page of keys (`keysFirst`, default 20), or null. */
    get: async (id: string, { keysFirst = 20, keysAfter }: { keysFirst?: number; keysAfter?: string } = {}) =>
      (await query(IdentityDocument, { id, keysFirst, keysAfter })).identity,
    /** The same, found by your own id for it. */
    getByExternalId: async (
      externalId: string,
      { keysFirst = 20, keysAfter }: { keysFirst?: number; keysAfter?: string } = {},
    ) => (await query(IdentityDocument, { externalId, keysFirst, keysAfter })).identity,
    /** Verifications of its keys (of every application) per hour or day and outcome; null for an unknown identity. */
    usage: async (id: string, range: UsageRange) =>
      (await query(IdentityUsageDocument, { id, ...range })).identity?.usage ?? null,
    /** Whoever keys belong to (a customer, a user); give keys to it with `keys.create/edit({ identityId })`. */
    create: async (input: CreateIdentityInput) =>
      split((await mutate(CreateIdentityDocument, { input })).createIdentity, 'IdentityPayload', (p) => p.identity),
    update: async (input: UpdateIdentityInput) =>
      split((await mutate(UpdateIdentityDocument, { input })).updateIdentity, 'IdentityPayload', (p) => p.identity),
    /** Refused with IDENTITY_IN_USE while keys that are not revoked belong to it, unless `detachKeys`. */
    delete: async (id: string, { detachKeys = false }: { detachKeys?: boolean } = {}) =>
      split(
        (await mutate(DeleteIdentityDocument, { input: { id, detachKeys } })).deleteIdentity,
        'IdentityPayload',
        (p) => p.identity,
      ),
  };

  const auditEvents = {
    /** One page of the merchant's audit trail, newest first. */
    list: async (variables: AuditEventsQueryVariables = {}) =>
      (await query(AuditEventsDocument, variables)).auditEvents,
    /** The whole trail (optionally filtered by action, target or time), page by page. */
    all: ({ pageSize = 50, ...filter }: Filter<AuditEventsQueryVariables> = {}) =>
      walk((after) => auditEvents.list({ ...filter, first: pageSize, after })),
  };

  const policy = {
    /** The key policy in force (the merchant's own, else the operator's default) and a page of the keys outside it. */
    get: async (page: { first?: number; after?: string | null } = {}) => (await query(PolicyDocument, page)).policy,
    /**
     * Sets the key policy. With `dryRun: true` nothing changes: `value.policy.keysOutOfPolicy` lists
     * the existing keys it would find outside it, and why. Existing keys are never changed.
     */
    set: async (input: KeyPolicyInput, options: { dryRun?: boolean; first?: number; after?: string | null } = {}) =>
      split((await mutate(SetPolicyDocument, { input, ...options })).setPolicy, 'SetPolicyPayload', (payload) => ({
        dryRun: payload.dryRun,
        policy: payload.policy,
      })),
  };

  const anomalies = {
    /** Anomalies of all the merchant's keys found in the last `withinDays` (7), newest first, and the responses chosen. */
    list: async (variables: { withinDays?: number; first?: number } = {}) => await query(AnomaliesDocument, variables),
    /** Chooses per kind: NOTIFY (default) or DISABLE the key too; omitted kinds stay. */
    setResponses: async (input: AnomalyResponsesInput) =>
      split(
        (await mutate(SetAnomalyResponsesDocument, { input })).setAnomalyResponses,
        'SetAnomalyResponsesPayload',
        (payload) => payload.anomalyResponses,
      ),
  };

  return {
    viewer: async () => (await query(ViewerDocument, {})).viewer,
    applications,
    keys,
    webhooks,
    roles,
    identities,
    auditEvents,
    policy,
    anomalies,
    /** The underlying urql client, for anything not covered here. */
    urql,
  };
}

export type KeygateClient = ReturnType<typeof createKeygateClient>;
