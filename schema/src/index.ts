// The Keygate GraphQL schema. Importing the type files registers them with the builder.
import { lexicographicSortSchema, printSchema } from 'graphql';
import { builder } from './builder.ts';
import './types/common.ts';
import './types/merchant.ts';
import './types/application.ts';
import './types/role.ts';
import './types/identity.ts';
import './types/imports.ts';
import './types/api-key.ts';
import './types/ip-rules.ts';
import './types/policy.ts';
import './types/suggestion.ts';
import './types/anomaly.ts';
import './types/verification.ts';
import './types/audit.ts';
import './types/usage.ts';
import './types/webhooks.ts';

export const schema = builder.toSchema();

/** The SDL committed as schema/schema.graphql. */
export function printKeygateSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

export type { Context } from '@keygate/services/context';
export { keyVerificationFields } from './types/verification.ts';
