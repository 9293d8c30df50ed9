// The GraphQL documents the tests send, and small helpers built on them.
import type { Harness } from './harness.ts';

type Client = Awaited<ReturnType<Harness['as']>>;

const ERROR_DETAILS: Record<string, string> = {
  ValidationError: 'issues { path message }',
  NotFoundError: 'resource id',
  NameConflictError: 'name',
  KeyLimitReachedError: 'limit',
  KeyRevokedError: 'keyId revokedAt',
};
/** Selects every detail of the error types a mutation's result union can hold. */
const errors = (...types: (keyof typeof ERROR_DETAILS)[]) =>
  `__typename ... on Error { code message } ${types.map((type) => `... on ${type} { ${ERROR_DETAILS[type]} }`).join(' ')}`;

export const APPLICATION_FIELDS = 'id name description enabled createdAt updatedAt keyLimit';
export const KEY_FIELDS = `id name websiteUrl prefix access scopes environment status expiresAt revokedAt lastUsedAt lastUsedIp
  createdAt updatedAt ipDefaultAction ipRules { cidr action } application { id }`;

export const CREATE_APPLICATION = `mutation CreateApplication($input: CreateApplicationInput!) {
  createApplication(input: $input) { ${errors('ValidationError', 'NameConflictError')} ... on ApplicationPayload { application { ${APPLICATION_FIELDS} } } } }`;
export const UPDATE_APPLICATION = `mutation UpdateApplication($input: UpdateApplicationInput!) {
  updateApplication(input: $input) { ${errors('ValidationError', 'NotFoundError', 'NameConflictError')} ... on ApplicationPayload { application { ${APPLICATION_FIELDS} } } } }`;
export const SET_APPLICATION_ENABLED = `mutation SetApplicationEnabled($input: SetApplicationEnabledInput!) {
  setApplicationEnabled(input: $input) { ${errors('NotFoundError')} ... on ApplicationPayload { application { ${APPLICATION_FIELDS} } } } }`;
export const CREATE_KEY = `mutation CreateKey($input: CreateKeyInput!) {
  createKey(input: $input) { ${errors('ValidationError', 'NotFoundError', 'KeyLimitReachedError')} ... on CreateKeyPayload { secret key { ${KEY_FIELDS} } } } }`;
export const EDIT_KEY = `mutation EditKey($input: EditKeyInput!) {
  editKey(input: $input) { ${errors('ValidationError', 'NotFoundError', 'KeyRevokedError')} ... on ApiKeyPayload { key { ${KEY_FIELDS} } } } }`;
export const REVOKE_KEY = `mutation RevokeKey($input: RevokeKeyInput!) {
  revokeKey(input: $input) { ${errors('NotFoundError', 'KeyRevokedError')} ... on ApiKeyPayload { key { ${KEY_FIELDS} } } } }`;
export const SET_IP_RULES = `mutation SetIpRules($input: SetIpRulesInput!) {
  setIpRules(input: $input) { ${errors('ValidationError', 'NotFoundError', 'KeyRevokedError')} ... on ApiKeyPayload { key { ${KEY_FIELDS} } } } }`;
export const APPLICATION = `query Application($id: ID!) { application(id: $id) { ${APPLICATION_FIELDS} } }`;
export const API_KEY = `query ApiKey($id: ID!) { apiKey(id: $id) { ${KEY_FIELDS} } }`;
export const NODE = `query Node($id: ID!) { node(id: $id) { __typename id } }`;
export const APPLICATIONS = `query Applications($first: Int, $after: String, $last: Int, $before: String, $search: String, $enabled: Boolean) {
  applications(first: $first, after: $after, last: $last, before: $before, search: $search, enabled: $enabled) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name enabled } } } }`;
export const APPLICATION_KEYS = `query ApplicationKeys($id: ID!, $first: Int, $after: String, $last: Int, $before: String, $status: [KeyStatus!]) {
  application(id: $id) { keys(first: $first, after: $after, last: $last, before: $before, status: $status) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name status } } } } }`;

export async function createApplication(client: Client, name: string, description?: string) {
  const data = await client.gql(CREATE_APPLICATION, { input: { name, description } });
  if (data.createApplication.__typename !== 'ApplicationPayload') throw new Error(JSON.stringify(data));
  return data.createApplication.application as { id: string; name: string };
}

export async function createKey(client: Client, applicationId: string, input: Record<string, unknown> = {}) {
  const data = await client.gql(CREATE_KEY, { input: { applicationId, name: 'Test key', ...input } });
  if (data.createKey.__typename !== 'CreateKeyPayload') throw new Error(JSON.stringify(data));
  return { secret: data.createKey.secret as string, key: data.createKey.key as Record<string, any> & { id: string } };
}
