import { Client, fetchExchange } from '@urql/core';
import { authorizedFetch, bearer, tokenSource } from './auth.js';
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
import { ExecutionError, isUnsuccessful, SenpukiClientError } from './errors.js';
import { executionListUpdates } from './executionList.js';
import { createLiveExchange } from './liveExchange.js';
import type { LiveIterator } from './liveIterator.js';
import { LiveSubscriptions } from './liveSubscriptions.js';
import { RequestSender } from './requestSender.js';
import type { SenpukiClient, SenpukiClientOptions, StreamOptions, WaitForOptions } from './senpukiClient.js';
import { createSseTransport } from './sseTransport.js';
import { StreamIterator, type StreamEventPayload } from './streamIterator.js';
import { taskListUpdates } from './taskTree.js';
import type { Execution } from './types.js';
import type { SubscriptionTransport } from './transport.js';
import { createWsTransport } from './wsTransport.js';

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
  const transport = createTransport(options, url, fetchWithToken, getToken);
  const live = createLiveExchange({ transport, retry: options.retry, retryAttempts: options.retryAttempts, canRefreshToken: !!options.getToken });
  const urql = new Client({
    url,
    fetch: fetchWithToken,
    exchanges: [live.exchange, fetchExchange],
    // No document cache: every read goes to the server, which is the truth about executions.
    requestPolicy: 'network-only',
    preferGetMethod: false,
  });
  let closed = false;
  let closing: Promise<void> | undefined;
  const closedError = () => new SenpukiClientError('closed', 'The Senpuki client is closed', { code: 'CLIENT_CLOSED' });
  const sender = new RequestSender(urql, options.retry, () => {
    if (closed) throw closedError();
  });
  const request = sender.send.bind(sender);
  const subscriptions = new LiveSubscriptions(urql);
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
      return subscriptions.open(ExecutionUpdatedSubscription, { variables, kind: 'version', since: liveOptions.since, signal: liveOptions.signal });
    },

    taskUpdates(id, liveOptions = {}) {
      const variables = liveOptions.since === undefined ? { id } : { id, since: liveOptions.since };
      return subscriptions.open(TaskUpdatedSubscription, { variables, kind: 'version', since: liveOptions.since, signal: liveOptions.signal });
    },

    async workers() {
      return (await request('query', WorkersQuery, {})).workers;
    },

    workersUpdates(liveOptions = {}) {
      // A whole list per event: nothing to resume from, and each event is news.
      return subscriptions.open(WorkersUpdatedSubscription, { variables: {}, kind: 'changeSeq', since: undefined, signal: liveOptions.signal });
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
      return subscriptions.open(ExecutionsUpdatedSubscription, { variables: since === undefined ? startNow : { ...base, since }, kind: 'changeSeq', since, signal });
    },

    executionTasksUpdates(executionId, liveOptions = {}) {
      const variables = liveOptions.since === undefined ? { executionId } : { executionId, since: liveOptions.since };
      return subscriptions.open(ExecutionTasksUpdatedSubscription, { variables, kind: 'taskChangeSeq', since: liveOptions.since, signal: liveOptions.signal });
    },

    stream<T = unknown>(executionId: string, name: string, streamOptions: StreamOptions = {}) {
      const { after, signal, onLive } = streamOptions;
      const variables = after === undefined ? { executionId, name } : { executionId, name, after };
      const events: LiveIterator<StreamEventPayload> = subscriptions.open(ExecutionStreamSubscription, {
        variables,
        kind: 'streamSeq',
        since: after,
        signal,
        onLive,
      });
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

    waitFor<TResult>(id: string, waitOptions: WaitForOptions = {}): Promise<TResult> {
      return waitForExecution<TResult>(client, id, waitOptions);
    },

    close() {
      closing ??= (async () => {
        closed = true;
        subscriptions.close(closedError());
        live.close();
        await transport.dispose();
      })();
      return closing;
    },
  };
  return client;
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

/** Resolves with the execution's result once it completes; rejects with ExecutionError when it ends otherwise. */
async function waitForExecution<TResult>(client: SenpukiClient, id: string, { timeoutMs, signal }: WaitForOptions): Promise<TResult> {
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
}

/** The subscription transport: graphql-ws (default), or SSE over the same authorized fetch. */
function createTransport(
  options: SenpukiClientOptions,
  url: string,
  fetchWithToken: typeof fetch,
  getToken: () => Promise<string | undefined>,
): SubscriptionTransport {
  if (options.transport === 'sse') return createSseTransport({ url, fetch: fetchWithToken });
  return createWsTransport({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: options.webSocketImpl,
    connectionParams: async () => {
      const token = await getToken();
      return token ? { authorization: bearer(token) } : {};
    },
    retry: options.retry,
    retryAttempts: options.retryAttempts,
  });
}
