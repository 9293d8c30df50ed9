// @keygate/sdk: a typed client for Keygate, and the typed GraphQL documents it
// is built from (usable with urql or any TypedDocumentNode client directly).
export { createKeygateClient, type KeygateClient, type KeygateClientOptions, type UsageRange } from './client.ts';
export { checkToken, KeygateRequestError, type RequestErrorCode, toRequestError } from './errors.ts';
export * from './generated/graphql.ts';
export type { Result } from './result.ts';
export { verifyWebhook, type WebhookEvent, WebhookVerificationError } from './webhooks.ts';
