// Limits on what one GraphQL request may ask, checked during validation, so a
// crafted document is refused before anything runs. The SDK's operations stay
// far below every limit (a test checks each of them).
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { NoSchemaIntrospectionCustomRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';

export const LIMITS = {
  depth: 10,
  aliases: 15,
  directives: 10,
  tokens: 2000,
  cost: 5000,
  /** Request bodies, in bytes. */
  body: 256 * 1024,
} as const;

export interface AbuseLimitOptions {
  /** Hide "did you mean …?" field suggestions (they map the schema for an attacker). */
  hideSuggestions: boolean;
  introspection: boolean;
}

export function abuseLimits(options: AbuseLimitOptions): Plugin[] {
  const plugins: Plugin[] = [
    maxDepthPlugin({ n: LIMITS.depth, ignoreIntrospection: true, flattenFragments: true }) as Plugin,
    maxAliasesPlugin({ n: LIMITS.aliases }) as Plugin,
    maxDirectivesPlugin({ n: LIMITS.directives }) as Plugin,
    maxTokensPlugin({ n: LIMITS.tokens }) as Plugin,
    costLimitPlugin({ maxCost: LIMITS.cost, ignoreIntrospection: true }) as Plugin,
  ];
  if (options.hideSuggestions) plugins.push(blockFieldSuggestionsPlugin() as Plugin);
  if (!options.introspection) {
    plugins.push({
      onValidate({ addValidationRule }) {
        addValidationRule(NoSchemaIntrospectionCustomRule);
      },
    });
  }
  return plugins;
}
