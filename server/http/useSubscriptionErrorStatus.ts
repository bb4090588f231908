import { GraphQLError } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { SenpukiError } from '../errors.js';
import { HTTP_STATUS_BY_CODE } from '../schema/errors.js';

/**
 * A subscription refused when it starts (unknown id, bad argument, forbidden) is a client
 * error: over SSE, where the answer is one stream with an HTTP status, that status says so
 * (404, 400, 403 …) instead of Yoga's default 500 for errors it did not make itself.
 */
export function useSubscriptionErrorStatus(): Plugin {
  return {
    onSubscribe() {
      return {
        onSubscribeResult({ result, setResult }) {
          if (isAsyncIterable(result) || !result.errors?.length) return;
          const statuses = result.errors.map((error) => HTTP_STATUS_BY_CODE[codeOf(error) ?? ''] ?? 500);
          setResult({ ...result, extensions: { ...result.extensions, http: { status: Math.max(...statuses) } } });
        },
      };
    },
  };
}

function codeOf(error: GraphQLError): string | undefined {
  const original = error.originalError;
  if (original instanceof SenpukiError) return original.code;
  const code = error.extensions?.code;
  return typeof code === 'string' ? code : undefined;
}
