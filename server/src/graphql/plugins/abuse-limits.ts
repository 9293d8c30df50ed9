// Limits on what one GraphQL request may ask. Depth, aliases, directives and
// tokens are checked before anything runs (parse and validation); the cost and
// the page sizes need the request's variables, so they are checked just before
// execution. Every refusal is QUERY_TOO_COMPLEX (or BAD_USER_INPUT for a page
// above the largest) and, per GraphQL over HTTP, a 400 for clients that accept
// application/graphql-response+json. The SDK's operations stay far below every
// limit (a test checks each of them with its largest variables).
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { measureOperation } from './query-cost.ts';
import { MAX_REPEATS, repeatedSelection } from './selection-limits.ts';

export const LIMITS = {
  depth: 10,
  aliases: 15,
  directives: 10,
  tokens: 2000,
  /** Times one response name may occur in one selection set (see selection-limits.ts). */
  repeats: MAX_REPEATS,
  /** Objects a response may hold, roughly (see query-cost.ts): 25 applications × 25 keys cost 676. */
  cost: 5000,
  /** Request bodies, in bytes. */
  body: 256 * 1024,
} as const;

export type LimitName = 'depth' | 'aliases' | 'directives' | 'tokens' | 'repeats' | 'cost';

/** Spec errors: 400 under application/graphql-response+json, 200 under legacy application/json. */
const HTTP = { spec: true, status: 400 };

export function tooComplex(limit: LimitName, message: string): GraphQLError {
  return new GraphQLError(`Query too complex: ${message}`, {
    extensions: { code: 'QUERY_TOO_COMPLEX', limit, max: LIMITS[limit], http: HTTP },
  });
}

/** graphql-armor's rules, with our code and message instead of its "Syntax Error: …". */
function refuseAs(limit: LimitName) {
  return {
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) => {
        const reason = error.message.replace(/^Syntax Error: (Query )?/, '');
        const refusal = tooComplex(limit, reason.charAt(0).toLowerCase() + reason.slice(1));
        // The token limit rejects while parsing, where there is no validation context to report to.
        if (!context) throw refusal;
        context.reportError(refusal);
      },
    ],
  };
}

export interface AbuseLimitOptions {
  /** Hide "did you mean …?" field suggestions (they map the schema for an attacker). */
  hideSuggestions: boolean;
  introspection: boolean;
}

/** Parse and validation limits: they need no variables. */
export function documentLimits(options: AbuseLimitOptions): Plugin[] {
  const plugins: Plugin[] = [
    {
      // Before validation, whose overlapping-fields rule is quadratic in repeated fields.
      onValidate({ params, setResult }) {
        const problem = repeatedSelection(params.documentAST);
        if (problem !== null) setResult([tooComplex('repeats', problem)]);
      },
    },
    maxDepthPlugin({ n: LIMITS.depth, ignoreIntrospection: true, flattenFragments: true, ...refuseAs('depth') }),
    maxAliasesPlugin({ n: LIMITS.aliases, ...refuseAs('aliases') }),
    maxDirectivesPlugin({ n: LIMITS.directives, ...refuseAs('directives') }),
    maxTokensPlugin({ n: LIMITS.tokens, ...refuseAs('tokens') }),
  ] as Plugin[];
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

/** Cost and page sizes, with the request's variables, before any resolver runs. */
export function costLimit(maxPageSize: number): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const measured = measureOperation(
        args.schema,
        args.document,
        args.operationName,
        args.variableValues as Record<string, unknown> | undefined,
        maxPageSize,
      );
      if (!measured) return;
      const page = measured.oversizedPage;
      if (page) {
        setResultAndStopExecution({
          errors: [
            new GraphQLError(
              `${page.argument} must be at most ${maxPageSize} (${page.field} asked for ${page.value})`,
              {
                extensions: { code: 'BAD_USER_INPUT', http: HTTP },
              },
            ),
          ],
        });
      } else if (measured.cost > LIMITS.cost) {
        setResultAndStopExecution({
          errors: [
            tooComplex('cost', `it could return about ${measured.cost} objects, at most ${LIMITS.cost} are allowed`),
          ],
        });
      }
    },
  };
}
