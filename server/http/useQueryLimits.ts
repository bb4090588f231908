import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { GraphQLError, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';

export interface QueryLimits {
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
}

/**
 * Reports an armor rejection as an ordinary validation error (HTTP 400 with
 * application/graphql-response+json) with code LIMIT_EXCEEDED and the setting to change.
 * Armor's default throws out of the validator, which turns into a code-less 200 "Syntax Error".
 */
function report(setting: string) {
  return {
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) => {
        const message = `${error.message.replace(/^Syntax Error: /, '')} Simplify the operation or raise ${setting}.`;
        context?.reportError(new GraphQLError(message, { extensions: { code: 'LIMIT_EXCEEDED' } }));
      },
    ],
  };
}

/**
 * Depth, alias and cost limits from graphql-armor, run as validation rules (so over HTTP, SSE and
 * graphql-ws alike). Introspection is exempt so GraphiQL and code generators keep working.
 */
export function useQueryLimits(limits: QueryLimits): Plugin[] {
  return [
    maxDepthPlugin({ n: limits.maxDepth, ignoreIntrospection: true, flattenFragments: true, ...report('limits.maxDepth') }),
    maxAliasesPlugin({ n: limits.maxAliases, allowList: [], ...report('limits.maxAliases') }),
    costLimitPlugin({ maxCost: limits.maxCost, ignoreIntrospection: true, ...report('limits.maxCost') }),
  ] as Plugin[];
}
