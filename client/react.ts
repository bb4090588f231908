/**
 * React bindings (optional: needs the `react` and `urql` packages). Wrap the app in
 * `<SenpukiProvider client={createSenpukiClient(...)}>`, then:
 *
 *   const { data, status, error } = useExecution(id);   // status: connecting → live → done
 *
 * Each hook pairs urql's useQuery (the current row, at once, even when another component already
 * watches the same one) with useSubscription (every later version, through the SDK's live
 * exchange, which resumes after dropped connections); the newer of the two wins.
 */
import { createElement, useMemo, type ReactNode } from 'react';
import { Provider, useQuery, useSubscription, type UseQueryState, type UseSubscriptionState } from 'urql';
import {
  ExecutionQuery,
  ExecutionsQuery,
  ExecutionsUpdatedSubscription,
  ExecutionUpdatedSubscription,
  TaskQuery,
  TaskUpdatedSubscription,
} from './documents.js';
import { fromCombinedError, type SenpukiClientError } from './errors.js';
import { DEFAULT_EXECUTION_LIST_SIZE, mergeExecutionList } from './executionList.js';
import { LIVE_CONTEXT_KEY } from './resume.js';
import type { SenpukiClient } from './senpukiClient.js';
import type { Execution, ExecutionFilter, Task } from './types.js';

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

/** Makes `client` available to the hooks below (and to urql's own hooks). */
export function SenpukiProvider(props: { client: SenpukiClient; children?: ReactNode }): ReactNode {
  return createElement(Provider, { value: props.client.urql }, props.children);
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
