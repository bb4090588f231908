import type { AnyVariables, Client, CombinedError, TypedDocumentNode } from '@urql/core';
import { reconnectDelayMs, type RetryOptions } from './backoff.js';
import { fromCombinedError, isClientHttpError, isUnavailable, SenpukiClientError } from './errors.js';

/** Times a query is sent again after a network error (see `RequestSender.send`). */
export const DEFAULT_QUERY_RETRIES = 1;

export interface SendOptions {
  retries?: number;
  stop?: AbortSignal;
}

/** The request path of the client: queries and mutations over fetch, with the client's retry policy. */
export class RequestSender {
  constructor(
    private readonly urql: Client,
    private readonly retry: RetryOptions | undefined,
    /** Throws when the client is closed (checked before every attempt). */
    private readonly assertOpen: () => void,
  ) {}

  /**
   * Sends a query or mutation. A query that meets a network error is sent again, at once the first
   * time (a keep-alive connection the server closed, e.g. in a restart, fails only the request
   * that finds it dead), then after a backoff, `retries` times in all. Mutations are sent once:
   * one may have taken effect even though its answer was lost.
   */
  async send<Data, Variables extends AnyVariables>(
    kind: 'query' | 'mutation',
    document: TypedDocumentNode<Data, Variables>,
    variables: Variables,
    { retries = kind === 'query' ? DEFAULT_QUERY_RETRIES : 0, stop }: SendOptions = {},
  ): Promise<Data> {
    for (let attempt = 0; ; attempt++) {
      this.assertOpen();
      stop?.throwIfAborted();
      const source = kind === 'query' ? this.urql.query(document, variables) : this.urql.mutation(document, variables);
      const result = await source.toPromise();
      if (!result.error) {
        if (!result.data) throw new SenpukiClientError('network', 'The server sent no data and no error');
        return result.data;
      }
      if (attempt >= retries || !isRetryableNetworkError(result.error)) throw fromCombinedError(result.error);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, reconnectDelayMs(attempt, this.retry)));
    }
  }
}

/** A network failure (not an HTTP 4xx answer: that would come again), or a server whose database blinked. */
function isRetryableNetworkError(error: CombinedError): boolean {
  if (isUnavailable(error.graphQLErrors)) return true;
  return error.graphQLErrors.length === 0 && error.networkError !== undefined && !isClientHttpError(error.response);
}
