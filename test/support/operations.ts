// The documents the API tests send: the SDK's typed documents (what clients
// send), plus test/operations for what only tests ask; no hand-written GraphQL.

import type { createKeygateClient } from '@keygate/sdk';
import {
  ApiKeyDocument,
  ApplicationDocument,
  ApplicationKeysDocument,
  ApplicationsDocument,
  CreateApplicationDocument,
  CreateKeyDocument,
  type CreateKeyInput,
  EditKeyDocument,
  RevokeKeyDocument,
  RollKeyDocument,
  SetApplicationEnabledDocument,
  SetIpRulesDocument,
  SetKeyEnabledDocument,
  UpdateApplicationDocument,
} from '@keygate/sdk/documents';
import { DashboardDocument, NodeDocument } from '../generated/graphql.ts';
import type { Harness } from './harness.ts';

type Client = Awaited<ReturnType<Harness['as']>>;

export const CREATE_APPLICATION = CreateApplicationDocument;
export const UPDATE_APPLICATION = UpdateApplicationDocument;
export const SET_APPLICATION_ENABLED = SetApplicationEnabledDocument;
export const CREATE_KEY = CreateKeyDocument;
export const EDIT_KEY = EditKeyDocument;
export const REVOKE_KEY = RevokeKeyDocument;
export const SET_IP_RULES = SetIpRulesDocument;
export const ROLL_KEY = RollKeyDocument;
export const SET_KEY_ENABLED = SetKeyEnabledDocument;
export const APPLICATION = ApplicationDocument;
export const API_KEY = ApiKeyDocument;
export const NODE = NodeDocument;
export const APPLICATIONS = ApplicationsDocument;
export const APPLICATION_KEYS = ApplicationKeysDocument;
export const DASHBOARD = DashboardDocument;

export async function createApplication(client: Client, name: string, description?: string) {
  const data = await client.gql(CREATE_APPLICATION, { input: { name, description } });
  if (data.createApplication.__typename !== 'ApplicationPayload') throw new Error(JSON.stringify(data));
  return data.createApplication.application as { id: string; name: string };
}

export async function createKey(client: Client, applicationId: string, input: Partial<CreateKeyInput> = {}) {
  const data = await client.gql(CREATE_KEY, { input: { applicationId, name: 'Test key', ...input } });
  if (data.createKey.__typename !== 'CreateKeyPayload') throw new Error(JSON.stringify(data));
  return { secret: data.createKey.secret as string, key: data.createKey.key as Record<string, any> & { id: string } };
}

/** A key made through the SDK (with a random name unless the input names it); fails the test if refused. */
export async function sdkKey(
  sdk: ReturnType<typeof createKeygateClient>,
  applicationId: string,
  input: Record<string, unknown> = {},
) {
  const created = await sdk.keys.create({ applicationId, name: `key ${Math.random()}`, ...input } as never);
  if (!created.ok) throw new Error(JSON.stringify(created.error));
  return created.value;
}
