/**
 * The SDK's public surface (`senpuki/client`): the client, its errors, typed documents, the data
 * types it returns and the helpers a live view needs. Everything else under client/ is internal.
 */
export { createSenpukiClient } from './client.js';
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
export type { ExecutionListOptions, ExecutionListSnapshot } from './executionList.js';
export { buildTaskTree, countTasks } from './taskTree.js';
export type { TaskCounts, TaskListOptions, TaskListSnapshot, TaskNode } from './taskTree.js';
export type { RetryOptions } from './backoff.js';
export type { TokenSource } from './auth.js';
