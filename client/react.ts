/**
 * React bindings (optional: needs the `react` and `urql` packages). Wrap the app in
 * `<SenpukiProvider client={createSenpukiClient(...)}>`, then:
 *
 *   const { data, status, error } = useExecution(id);   // status: connecting → live → done
 *   const { data: words } = useExecutionStream<string>(id, 'answer');   // the stream's chunks, live
 *
 * Each hook pairs urql's useQuery (the current row, at once, even when another component already
 * watches the same one) with useSubscription (every later version, through the SDK's live
 * exchange, which resumes after dropped connections); the newer of the two wins.
 */
import { createContext, createElement, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { Provider, useQuery, useSubscription, type UseQueryState, type UseSubscriptionState } from 'urql';
import {
  ExecutionQuery,
  ExecutionsQuery,
  ExecutionsUpdatedSubscription,
  ExecutionUpdatedSubscription,
  TaskQuery,
  TaskUpdatedSubscription,
} from './documents.js';
import { fromCombinedError, toSenpukiClientError, type SenpukiClientError } from './errors.js';
import { DEFAULT_EXECUTION_LIST_SIZE, mergeExecutionList } from './executionList.js';
import { LIVE_CONTEXT_KEY } from './resume.js';
import type { SenpukiClient } from './senpukiClient.js';
import type { Execution, ExecutionFilter, StreamChunk, Task } from './types.js';

/**
 * - `connecting`: no live data yet (the query's row may already be in `data`);
 * - `live`: subscribed, `data` is current;
 * - `reconnecting`: the connection dropped; `data` is the last known row, resuming from it;
 * - `done`: the row reached its terminal state, nothing more will come;
 * - `error`: see `error` (e.g. NOT_FOUND, FORBIDDEN).
 */
export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'done' | 'error';

/** What the hooks return. */
export interface LiveState<T> {
  data: T | undefined;
  status: LiveStatus;
  error: SenpukiClientError | undefined;
}

const SenpukiClientContext = createContext<SenpukiClient | undefined>(undefined);

/** Makes `client` available to the hooks below (and to urql's own hooks). */
export function SenpukiProvider(props: { client: SenpukiClient; children?: ReactNode }): ReactNode {
  return createElement(SenpukiClientContext.Provider, { value: props.client }, createElement(Provider, { value: props.client.urql }, props.children));
}

const VERSION_CONTEXT = { [LIVE_CONTEXT_KEY]: 'version' };
const CHANGE_SEQ_CONTEXT = { [LIVE_CONTEXT_KEY]: 'changeSeq' };

/** An execution, live. Pass null/undefined to wait (no request is made). */
export function useExecution(id: string | null | undefined): LiveState<Execution> {
  const variables = useMemo(() => ({ id: id ?? '' }), [id]);
  const [query] = useQuery({ query: ExecutionQuery, variables, pause: !id, requestPolicy: 'network-only' });
  const [subscription] = useSubscription({ query: ExecutionUpdatedSubscription, variables, pause: !id, context: VERSION_CONTEXT });
  return rowState(query, subscription, query.data?.execution ?? undefined, subscription.data?.executionUpdated);
}

/** A task, live. Pass null/undefined to wait (no request is made). */
export function useTask(id: string | null | undefined): LiveState<Task> {
  const variables = useMemo(() => ({ id: id ?? '' }), [id]);
  const [query] = useQuery({ query: TaskQuery, variables, pause: !id, requestPolicy: 'network-only' });
  const [subscription] = useSubscription({ query: TaskUpdatedSubscription, variables, pause: !id, context: VERSION_CONTEXT });
  return rowState(query, subscription, query.data?.task ?? undefined, subscription.data?.taskUpdated);
}

/** Options of `useExecutions`. */
export interface UseExecutionsOptions {
  /** Rows shown, newest first (default 20). */
  first?: number;
}

/**
 * A live list of executions matching `filter`, newest first: the first page, updated by
 * `executionsUpdated` (rows change in place, new ones appear on top, rows leaving a state filter go).
 */
export function useExecutions(filter?: ExecutionFilter, options: UseExecutionsOptions = {}): LiveState<Execution[]> {
  const first = options.first ?? DEFAULT_EXECUTION_LIST_SIZE;
  const filterKey = JSON.stringify(filter ?? {});
  // Keyed by content: callers pass a new filter object on every render.
  const stableFilter = useMemo(() => filter, [filterKey]);
  const [query] = useQuery({ query: ExecutionsQuery, variables: { filter: stableFilter, first }, requestPolicy: 'network-only' });
  // Every change since mount, oldest first; applied to the page below (bounded, the page is too).
  const [subscription] = useSubscription(
    { query: ExecutionsUpdatedSubscription, variables: { filter: stableFilter }, context: CHANGE_SEQ_CONTEXT },
    (changes: Execution[] = [], data) => [...changes.slice(-(first * 10)), data.executionsUpdated],
  );
  const page = query.data?.executions.nodes;
  const changes = subscription.data;
  const data = useMemo(() => (page ? (changes ?? []).reduce((list, change) => mergeExecutionList(list, change, stableFilter, first), page) : undefined), [page, changes, stableFilter, first]);
  const error = subscription.error ?? query.error;
  let status: LiveStatus;
  if (error) status = 'error';
  else if (subscription.stale) status = 'reconnecting';
  // urql's `fetching` is true only until a subscription's first result: a list that has had
  // changes is live as long as nothing above says otherwise.
  else if (data && (subscription.fetching || changes !== undefined)) status = 'live';
  else status = 'connecting';
  return { data, status, error: error ? fromCombinedError(error) : undefined };
}

/** The newer of the queried and the subscribed row, with the status both imply. */
function rowState<T extends { version: number; terminal: boolean }>(
  query: UseQueryState<unknown>,
  subscription: UseSubscriptionState<unknown>,
  queried: T | undefined,
  live: T | undefined,
): LiveState<T> {
  const data = queried && (!live || queried.version > live.version) ? queried : live;
  const error = subscription.error ?? query.error;
  let status: LiveStatus;
  if (error) status = 'error';
  else if (data?.terminal) status = 'done';
  else if (subscription.stale) status = 'reconnecting';
  else if (live) status = 'live';
  else status = 'connecting';
  return { data, status, error: error ? fromCombinedError(error) : undefined };
}

/** What `useExecutionStream` returns. */
export interface StreamState<T> {
  /**
   * The chunks of the stream's latest run, in order: what to show as its content. A re-run of the
   * writing task whose output differed starts a new run, and this starts over with it.
   */
  data: T[] | undefined;
  /** Every chunk received, of every run, with its `seq` and `run` (a log view shows them all). */
  chunks: Array<StreamChunk<T>>;
  /** `done` once the stream is closed. */
  status: LiveStatus;
  error: SenpukiClientError | undefined;
}

const STREAM_CONNECTING: StreamState<never> = { data: undefined, chunks: [], status: 'connecting', error: undefined };

/**
 * A stream of an execution (`ctx.stream(name)` in a function), live: the chunks so far, then
 * each new one; resumes after the last seq received when the connection drops. Chunks arriving
 * together are rendered together. Pass null/undefined to wait (no subscription is made).
 */
export function useExecutionStream<T = unknown>(executionId: string | null | undefined, name: string | null | undefined): StreamState<T> {
  const client = useContext(SenpukiClientContext);
  if (!client) throw new Error('useExecutionStream needs a <SenpukiProvider client={...}> above it');
  const [state, setState] = useState<StreamState<T>>(STREAM_CONNECTING);
  useEffect(() => {
    setState(STREAM_CONNECTING);
    if (!executionId || !name) return;
    const controller = new AbortController();
    const chunks: Array<StreamChunk<T>> = [];
    let runStart = 0;
    let status: LiveStatus = 'connecting';
    let scheduled: ReturnType<typeof setTimeout> | undefined;
    const render = () => {
      scheduled = undefined;
      if (controller.signal.aborted) return;
      const all = chunks.slice();
      setState({ data: status === 'connecting' && all.length === 0 ? undefined : all.slice(runStart).map((chunk) => chunk.data), chunks: all, status, error: undefined });
    };
    // One render per turn of the event loop: a backlog of thousands of chunks is one update, not thousands.
    const schedule = () => (scheduled ??= setTimeout(render, 0));
    void (async () => {
      try {
        const iterator = client.stream<T>(executionId, name, {
          signal: controller.signal,
          onLive: (live) => {
            status = live ? 'live' : 'reconnecting';
            schedule();
          },
        });
        for await (const chunk of iterator) {
          if (chunks.length > 0 && chunk.run !== chunks.at(-1)!.run) runStart = chunks.length;
          chunks.push(chunk);
          schedule();
        }
        status = 'done';
        clearTimeout(scheduled);
        render();
      } catch (error) {
        if (controller.signal.aborted) return;
        clearTimeout(scheduled);
        setState({ data: chunks.slice(runStart).map((chunk) => chunk.data), chunks: chunks.slice(), status: 'error', error: toSenpukiClientError(error) });
      }
    })();
    return () => {
      controller.abort();
      clearTimeout(scheduled);
    };
  }, [client, executionId, name]);
  return state;
}
