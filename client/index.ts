export { createSenpukiClient, DEFAULT_QUERY_RETRIES } from './client.js';
export type { LiveOptions, LiveUpdates, ListLiveOptions, SenpukiClient, SenpukiClientOptions, StreamOptions, WaitForOptions } from './senpukiClient.js';
export { ExecutionError, NETWORK_ERROR_CODE, SenpukiClientError } from './errors.js';
export type { SenpukiClientErrorKind, SenpukiGraphQLError, UnsuccessfulState } from './errors.js';
export { graphql, readFragment } from './graphql.js';
export type { FragmentOf, ResultOf, VariablesOf } from './graphql.js';
export * as documents from './documents.js';
export { TERMINAL_EXECUTION_STATES, TERMINAL_TASK_STATES } from './types.js';
export type {
  DeadLetter,
  DeadLetterFilter,
  DeadLetterPage,
  DispatchOptions,
  DispatchManyItem,
  DispatchResult,
  DurableFunction,
  ErrorInfo,
  Execution,
  ExecutionFilter,
  ExecutionPage,
  ExecutionState,
  PageRequest,
  SignalDelivery,
  StreamChunk,
  StreamInfo,
  Task,
  TaskState,
  Worker,
} from './types.js';
export { DEFAULT_EXECUTION_LIST_SIZE, matchesFilter, mergeExecutionList } from './executionList.js';
export type { ExecutionListOptions, ExecutionListSnapshot } from './executionList.js';
export { buildTaskTree, countTasks, DEFAULT_TASK_LIST_POLL_INTERVAL_MS } from './taskTree.js';
export type { TaskCounts, TaskListOptions, TaskListSnapshot, TaskNode } from './taskTree.js';
export { createLiveExchange } from './liveExchange.js';
export type { LiveExchange, LiveExchangeOptions } from './liveExchange.js';
export { LIVE_CONTEXT_KEY, compareChangeSeq } from './resume.js';
export type { LiveCursorKind } from './resume.js';
export { DEFAULT_RETRY_BACKOFF_FACTOR, DEFAULT_RETRY_INITIAL_DELAY_MS, DEFAULT_RETRY_JITTER, DEFAULT_RETRY_MAX_DELAY_MS } from './backoff.js';
export type { RetryOptions } from './backoff.js';
export type { TokenSource } from './auth.js';
