import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * Malformed JSON in a GET request's `variables` or `extensions` parameter is the client's mistake:
 * answer 400 saying which, where Yoga would let the SyntaxError through as a masked 500.
 */
export function useRequestParseErrors(): Plugin {
  return {
    onRequestParse({ requestParser, setRequestParser }) {
      if (!requestParser) return;
      setRequestParser(async (request) => {
        try {
          return await requestParser(request);
        } catch (error) {
          if (!(error instanceof SyntaxError)) throw error;
          throw new GraphQLError(`The request's variables or extensions are not valid JSON (${error.message}); send a JSON object.`, {
            extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
          });
        }
      });
    },
  };
}
