import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { GraphQLError, Lexer, Source, TokenKind, parse, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';

export interface QueryLimits {
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
  maxTokens: number;
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

/** Deepest nesting of braces, brackets and parentheses in a document (its fields are limited further by maxDepth). */
export const MAX_DOCUMENT_NESTING = 64;

const OPENING = new Set<TokenKind>([TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L]);
const CLOSING = new Set<TokenKind>([TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R]);

function limitError(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'LIMIT_EXCEEDED', http: { status: 400 } } });
}

/**
 * Counts a document's tokens and nesting with the lexer, which is iterative, before the parser,
 * which is recursive: parsing cost stays bounded whatever is sent, and a list literal nested
 * thousands deep is refused instead of overflowing the stack.
 */
function useDocumentLimits(maxTokens: number): Plugin {
  return {
    onParse({ setParseFn }) {
      setParseFn((source, options) => {
        const lexer = new Lexer(typeof source === 'string' ? new Source(source) : source);
        let tokens = 0;
        let depth = 0;
        for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
          if (++tokens > maxTokens) throw limitError(`The document has more than ${maxTokens} tokens. Simplify the operation or raise limits.maxTokens.`);
          if (OPENING.has(token.kind) && ++depth > MAX_DOCUMENT_NESTING) {
            throw limitError(`The document nests braces, brackets or parentheses deeper than ${MAX_DOCUMENT_NESTING} levels. Pass deep values as variables.`);
          }
          if (CLOSING.has(token.kind)) depth--;
        }
        return parse(source, options);
      });
    },
  };
}

/**
 * Token, depth, alias and cost limits, the last three from graphql-armor run as validation rules
 * (so over HTTP, SSE and graphql-ws alike). Introspection is exempt from depth and cost so
 * GraphiQL and code generators keep working.
 */
export function useQueryLimits(limits: QueryLimits): Plugin[] {
  return [
    useDocumentLimits(limits.maxTokens),
    maxDepthPlugin({ n: limits.maxDepth, ignoreIntrospection: true, flattenFragments: true, ...report('limits.maxDepth') }),
    maxAliasesPlugin({ n: limits.maxAliases, allowList: [], ...report('limits.maxAliases') }),
    costLimitPlugin({ maxCost: limits.maxCost, ignoreIntrospection: true, ...report('limits.maxCost') }),
  ] as Plugin[];
}
