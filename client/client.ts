import { Client, createRequest, fetchExchange, type AnyVariables, type CombinedError, type OperationResult, type TypedDocumentNode } from '@urql/core';
import type { Source } from 'wonka';
import { authorizedFetch, bearer, tokenSource } from './auth.js';
import { retryDelayMs } from './backoff.js';
import {
  CancelExecutionMutation,
  ChangeCursorQuery,
  DeadLettersQuery,
  DiscardDeadLetterMutation,
  ReplayDeadLetterMutation,
  SendSignalMutation,
  DispatchManyMutation,
  DispatchMutation,
  ExecutionQuery,
  ExecutionsQuery,
  ExecutionsUpdatedSubscription,
  ExecutionTasksQuery,
  ExecutionTasksUpdatedSubscription,
  ExecutionUpdatedSubscription,
  ExecutionStreamsQuery,
  ExecutionStreamSubscription,
  FunctionsQuery,
  TaskQuery,
  TaskUpdatedSubscription,
  WorkersQuery,
  WorkersUpdatedSubscription,
} from './documents.js';
import { ExecutionError, fromCombinedError, isClientHttpError, isUnavailable, isUnsuccessful, SenpukiClientError } from './errors.js';
import { executionListUpdates } from './executionList.js';
import { createLiveExchange } from './liveExchange.js';
import { LiveIterator } from './liveIterator.js';
import { createLiveCursor, LIVE_CONTEXT_KEY, LIVE_SHARE_KEY, type LiveCursorKind } from './resume.js';
import type { SenpukiClient, SenpukiClientOptions, StreamOptions } from './senpukiClient.js';
import { createSseTransport } from './sseTransport.js';
import { StreamIterator, type StreamEventPayload } from './streamIterator.js';
import { taskListUpdates } from './taskTree.js';
import type { Execution } from './types.js';
import { createWsTransport } from './wsTransport.js';

/** Times a query is sent again after a network error (see `request`). */
export const DEFAULT_QUERY_RETRIES = 1;

/**
 * Creates a Senpuki client: urql (queries and mutations over fetch) with the live exchange
 * carrying subscriptions over graphql-ws or SSE. Runs in browsers and in Node 20+ (pass
 * `webSocketImpl` from the `ws` package there, or use `transport: 'sse'`).
 */
export function createSenpukiClient(options: SenpukiClientOptions): SenpukiClient {
  const url = absoluteUrl(options.url);
  const getToken = tokenSource(options);
  const baseFetch: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const fetchWithToken = authorizedFetch(baseFetch, getToken);
  const transport =
    options.transport === 'sse'
      ? createSseTransport({ url, fetch: fetchWithToken })
      : createWsTransport({
          url: url.replace(/^http/, 'ws'),
          webSocketImpl: options.webSocketImpl,
          connectionParams: async () => {
            const token = await getToken();
            return token ? { authorization: bearer(token) } : {};
          },
          retry: options.retry,
          retryAttempts: options.retryAttempts,
        });
  const live = createLiveExchange({ transport, retry: options.retry, retryAttempts: options.retryAttempts, canRefreshToken: !!options.getToken });
  const urql = new Client({
    url,
    fetch: fetchWithToken,
    exchanges: [live.exchange, fetchExchange],
    // No document cache: every read goes to the server, which is the truth about executions.
    requestPolicy: 'network-only',
    preferGetMethod: false,
  });
  const iterators = new Set<LiveIterator<unknown>>();
  // Operation keys of iterators: negative, so they never meet urql's (unsigned) hashes.
  let lastIteratorKey = 0;
  let closed = false;
  let closing: Promise<void> | undefined;

  const closedError = () => new SenpukiClientError('closed', 'The Senpuki client is closed', { code: 'CLIENT_CLOSED' });

  /**
   * Sends a query or mutation. A query that meets a network error is sent again, at once the first
   * time (a keep-alive connection the server closed, e.g. in a restart, fails only the request
   * that finds it dead), then after a backoff, `retries` times in all. Mutations are sent once:
   * one may have taken effect even though its answer was lost.
   */
  async function request<Data, Variables extends AnyVariables>(
    kind: 'query' | 'mutation',
    document: TypedDocumentNode<Data, Variables>,
    variables: Variables,
    { retries = kind === 'query' ? DEFAULT_QUERY_RETRIES : 0, stop }: { retries?: number; stop?: AbortSignal } = {},
  ): Promise<Data> {
    for (let attempt = 0; ; attempt++) {
      if (closed) throw closedError();
      stop?.throwIfAborted();
      const source = kind === 'query' ? urql.query(document, variables) : urql.mutation(document, variables);
      const result = await source.toPromise();
      if (!result.error) {
        if (!result.data) throw new SenpukiClientError('network', 'The server sent no data and no error');
        return result.data;
      }
      if (attempt >= retries || !isRetryableNetworkError(result.error)) throw fromCombinedError(result.error);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, retryDelayMs(attempt - 1, options.retry)));
    }
  }

  function subscribe<T, Data, Variables extends AnyVariables>(
    document: TypedDocumentNode<Data, Variables>,
    variables: Variables | ((stop: AbortSignal) => Promise<Variables>),
    kind: LiveCursorKind,
    since: unknown,
    signal: AbortSignal | undefined,
    onLive?: (live: boolean) => void,
  ): LiveIterator<T> {
    const execute = (values: Variables) => {
      // Its own key, so urql does not merge it with another subscriber of the same execution
      // (urql would not replay the current version to the newcomer); the live exchange still
      // serves both from one server subscription, through the share key. Not a stream's: each
      // reader of a stream needs the chunks after its own position, not the last event.
      const request = createRequest(document, values);
      const key = --lastIteratorKey;
      return urql.executeSubscription({ ...request, key }, { [LIVE_CONTEXT_KEY]: kind, [LIVE_SHARE_KEY]: kind === 'streamSeq' ? key : request.key });
    };
    const iterator: LiveIterator<T> = new LiveIterator<T>({
      open: (stop) => {
        if (typeof variables !== 'function') return execute(variables);
        // Handed over inside a plain function: urql's source is a thenable too, which the promise
        // would adopt (subscribing to it, and resolving with its first result).
        return variables(stop).then((values: Variables): Source<OperationResult> => {
          const source = execute(values);
          return (sink) => source(sink);
        });
      },
      cursor: createLiveCursor(kind, since),
      signal,
      onLive,
      onEnd: () => iterators.delete(iterator as LiveIterator<unknown>),
    });
    if (closed) iterator.fail(closedError());
    else iterators.add(iterator as LiveIterator<unknown>);
    return iterator;
  }

  const client: SenpukiClient = {
    url,
    urql,

    async dispatch(fn, args = [], dispatchOptions = {}) {
      const data = await request('mutation', DispatchMutation, { input: { ...dispatchOptions, function: fn, args } });
      const { execution, token, tokenExpiresAt, created } = data.dispatch;
      return { executionId: execution.id, token, tokenExpiresAt, created, execution };
    },

    async dispatchMany(items) {
      const data = await request('mutation', DispatchManyMutation, {
        items: items.map((item) => ({ ...item.options, function: item.fn, args: item.args ?? [] })),
      });
      return data.dispatchMany.items.map(({ execution, token, tokenExpiresAt, created }) => ({
        executionId: execution.id,
        token,
        tokenExpiresAt,
        created,
        execution,
      }));
    },

    async execution(id) {
      const data = await request('query', ExecutionQuery, { id });
      if (!data.execution) throw notFound(`No execution with id ${id}`);
      return data.execution;
    },

    async executions(filter, page = {}) {
      const data = await request('query', ExecutionsQuery, { filter, first: page.first, after: page.after });
      const { nodes, totalCount, pageInfo } = data.executions;
      return { executions: nodes, totalCount, hasNextPage: pageInfo.hasNextPage, endCursor: pageInfo.endCursor ?? null };
    },

    async task(id) {
      const data = await request('query', TaskQuery, { id });
      if (!data.task) throw notFound(`No task with id ${id}`);
      return data.task;
    },

    async tasks(executionId) {
      const data = await request('query', ExecutionTasksQuery, { id: executionId });
      if (!data.execution) throw notFound(`No execution with id ${executionId}`);
      return data.execution.tasks;
    },

    async functions() {
      return (await request('query', FunctionsQuery, {})).functions;
    },

    async cancel(id) {
      return (await request('mutation', CancelExecutionMutation, { id })).cancelExecution.execution;
    },

    async sendSignal(executionId, name, payload = null) {
      return (await request('mutation', SendSignalMutation, { input: { executionId, name, payload } })).sendSignal;
    },

    async deadLetters(filter, page = {}) {
      const { nodes, pageInfo } = (await request('query', DeadLettersQuery, { filter, first: page.first, after: page.after })).deadLetters;
      return { deadLetters: nodes, hasNextPage: pageInfo.hasNextPage, endCursor: pageInfo.endCursor ?? null };
    },

    async replayDeadLetter(id) {
      return (await request('mutation', ReplayDeadLetterMutation, { id })).replayDeadLetter.execution;
    },

    async discardDeadLetter(id) {
      await request('mutation', DiscardDeadLetterMutation, { id });
    },

    async changeCursor() {
      return (await request('query', ChangeCursorQuery, {})).changeCursor;
    },

    executionUpdates(id, liveOptions = {}) {
      const variables = liveOptions.since === undefined ? { id } : { id, since: liveOptions.since };
      return subscribe(ExecutionUpdatedSubscription, variables, 'version', liveOptions.since, liveOptions.signal);
    },

    taskUpdates(id, liveOptions = {}) {
      const variables = liveOptions.since === undefined ? { id } : { id, since: liveOptions.since };
      return subscribe(TaskUpdatedSubscription, variables, 'version', liveOptions.since, liveOptions.signal);
    },

    async workers() {
      return (await request('query', WorkersQuery, {})).workers;
    },

    workersUpdates(liveOptions = {}) {
      // A whole list per event: nothing to resume from, and each event is news.
      return subscribe(WorkersUpdatedSubscription, {}, 'changeSeq', undefined, liveOptions.signal);
    },

    executionsUpdates(filter, liveOptions = {}) {
      const { since, signal } = liveOptions;
      const base = filter ? { filter } : {};
      // Without a `since`, start at the change cursor read now rather than let the server pick
      // "now" when the subscription arrives: a subscription that drops before its first event then
      // resumes from there, not from whenever it got back. Read as persistently as a subscription
      // reconnects, since a live view started during a server restart should wait, not fail.
      const startNow = async (stop: AbortSignal) => {
        const { changeCursor } = await request('query', ChangeCursorQuery, {}, { retries: options.retryAttempts ?? Infinity, stop });
        return { ...base, since: changeCursor };
      };
      return subscribe(ExecutionsUpdatedSubscription, since === undefined ? startNow : { ...base, since }, 'changeSeq', since, signal);
    },

    executionTasksUpdates(executionId, liveOptions = {}) {
      const variables = liveOptions.since === undefined ? { executionId } : { executionId, since: liveOptions.since };
      return subscribe(ExecutionTasksUpdatedSubscription, variables, 'taskChangeSeq', liveOptions.since, liveOptions.signal);
    },

    stream<T = unknown>(executionId: string, name: string, streamOptions: StreamOptions = {}) {
      const { after, signal, onLive } = streamOptions;
      const variables = after === undefined ? { executionId, name } : { executionId, name, after };
      const events: LiveIterator<StreamEventPayload> = subscribe(ExecutionStreamSubscription, variables, 'streamSeq', after, signal, onLive);
      return new StreamIterator<T>(events, after ?? 0);
    },

    async streams(executionId) {
      const data = await request('query', ExecutionStreamsQuery, { id: executionId });
      if (!data.execution) throw notFound(`No execution with id ${executionId}`);
      return data.execution.streams;
    },

    executionListUpdates(filter, listOptions) {
      return executionListUpdates(client, filter, listOptions);
    },

    taskListUpdates(executionId, listOptions) {
      return taskListUpdates(client, executionId, listOptions);
    },

    async waitFor<TResult>(id: string, waitOptions: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<TResult> {
      const { timeoutMs, signal } = waitOptions;
      const controller = new AbortController();
      const timeoutError = new SenpukiClientError('timeout', `Execution ${id} did not finish within ${timeoutMs} ms; it goes on: wait again or cancel it`, {
        code: 'TIMEOUT',
      });
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => controller.abort(timeoutError), timeoutMs);
      const onAbort = () => controller.abort(signal?.reason);
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        let last: Execution | undefined;
        for await (const execution of client.executionUpdates(id, { signal: controller.signal })) last = execution;
        if (!last?.terminal) throw new SenpukiClientError('network', `The subscription to execution ${id} ended before its terminal state`);
        if (isUnsuccessful(last)) throw new ExecutionError(last);
        return last.result as TResult;
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
    },

    close() {
      closing ??= (async () => {
        closed = true;
        for (const iterator of [...iterators]) iterator.fail(closedError());
        live.close();
        await transport.dispose();
      })();
      return closing;
    },
  };
  return client;
}

/** Network errors a query is sent again for (not an HTTP 4xx answer: that would come again). */
/** A network failure, or a server whose database blinked: a query may be sent again. */
function isRetryableNetworkError(error: CombinedError): boolean {
  if (isUnavailable(error.graphQLErrors)) return true;
  return error.graphQLErrors.length === 0 && error.networkError !== undefined && !isClientHttpError(error.response);
}

function notFound(message: string): SenpukiClientError {
  return new SenpukiClientError('graphql', message, { graphQLErrors: [{ message, code: 'NOT_FOUND' }] });
}

/** Resolves a relative URL ("/graphql") against the page in browsers. */
function absoluteUrl(url: string): string {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return new URL(url, base).href;
  } catch {
    throw new SenpukiClientError('network', `url must be an absolute http(s) URL of the GraphQL endpoint (or relative, in a browser); got ${JSON.stringify(url)}`, {
      code: 'BAD_USER_INPUT',
    });
  }
}
