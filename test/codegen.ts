// graphql-codegen for the documents only tests send (test/operations), next to
// the SDK's: same schema, same settings, output committed and drift-checked.
import type { CodegenConfig } from '@graphql-codegen/cli';
import sdk from '../sdk/codegen.ts';

const [, target] = Object.entries(sdk.generates ?? {})[0]!;

const config: CodegenConfig = {
  schema: '../schema/schema.graphql',
  documents: 'operations/*.graphql',
  generates: { 'generated/graphql.ts': target as never },
};

export default config;
