import type { Client as UrqlClient } from '@urql/core';
import type { TokenSource } from './auth.js';
import type { RetryOptions } from './backoff.js';
import type { ExecutionListOptions, ExecutionListSnapshot } from './executionList.js';
import type { TaskListOptions, TaskListSnapshot } from './taskTree.js';
import type {
  DeadLetterFilter,
  DeadLetterPage,
  DispatchManyItem,
  DispatchOptions,
  DispatchResult,
  DurableFunction,
  Execution,
  ExecutionFilter,
  ExecutionPage,
  PageRequest,
  SignalDelivery,
  StreamChunk,
  StreamInfo,
  Task,
  Worker,
} from './types.js';

/** Options of `createSenpukiClient`. */
export interface SenpukiClientOptions {
  /** The GraphQL endpoint, e.g. "http://localhost:4000/graphql" (a relative "/graphql" works in browsers). */
  url: string;
  /** An API key (back ends) or a read token from `dispatch` (browsers). */
  token?: string;
  /**
   * Returns the credential to use now; called before every request and on every (re)connect of
   * the socket, so long-lived browser subscriptions can swap an expiring read token. When a live
   * subscription is ended for an expired token, the client reconnects with a fresh one instead of failing.
   */
  getToken?: TokenSource;
  /** How subscriptions travel: graphql-ws (default, one socket for all) or SSE (one HTTP stream each). */
  transport?: 'ws' | 'sse';
  /** Used for queries, mutations and SSE; default the global fetch. */
  fetch?: typeof fetch;
  /** A WebSocket class where there is no global one (Node 20: `import WebSocket from 'ws'`). */
  webSocketImpl?: unknown;
  /** Backoff between reconnects and resubscribes (default 250 ms doubling to 10 s, with jitter). */
  retry?: RetryOptions;
  /** Reconnect attempts before live subscriptions fail; default Infinity (a live view keeps trying). */
  retryAttempts?: number;
}

/**
 * A live iterator: use it with `for await`; `break` (or `return()`) unsubscribes at once and
 * tears the server-side subscription down.
 */
export interface LiveUpdates<T> extends AsyncIterableIterator<T> {
  next(): Promise<IteratorResult<T, undefined>>;
  return(value?: undefined): Promise<IteratorResult<T, undefined>>;
}

/** Options of the live iterators. */
export interface LiveOptions {
  /** Resume after this version (the last one you have): older and equal ones are not sent. */
  since?: number;
  /** Aborting ends the iterator: a pending `next()` rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `executionsUpdates` and `executionTasksUpdates`. */
export interface ListLiveOptions {
  /**
   * Resume after this `changeSeq` (the highest you have). Default: for `executionsUpdates`,
   * changes from now on (from `changeCursor()`); for `executionTasksUpdates`, every task first.
   */
  since?: string;
  signal?: AbortSignal;
}

/** Options of `stream`. */
export interface StreamOptions {
  /** Resume after this seq (the last chunk you have); default: the whole stream. */
  after?: number;
  /** Aborting ends the iterator: a pending `next()` rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Told when the subscription is live (true) and when it is reconnecting after a dropped connection (false). */
  onLive?: (live: boolean) => void;
}

/** Options of `waitFor`. */
export interface WaitForOptions {
  /** Give up after this long (rejects with a SenpukiClientError of kind `timeout`; the execution goes on). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The Senpuki SDK: typed queries and mutations, and live subscriptions as async iterators that
 * survive dropped connections (each resubscribes from its last `version`: no gap, no duplicate,
 * nothing older). Failed requests reject with a `SenpukiClientError`.
 */
export interface SenpukiClient {
  /** The GraphQL endpoint. */
  readonly url: string;
  /** The urql client underneath (for `<SenpukiProvider>`, urql hooks and your own `graphql()` documents). */
  readonly urql: UrqlClient;

  /** Starts an execution of the durable function `fn` with `args` (a JSON array, one item per parameter). */
  dispatch(fn: string, args?: readonly unknown[], options?: DispatchOptions): Promise<DispatchResult>;
  /**
   * Starts many executions with one request (and one database statement on the server; at most
   * 1,000). Results come in input order. When any item is invalid none is dispatched, and the
   * error (code BAD_USER_INPUT) says which items and why.
   */
  dispatchMany(items: readonly DispatchManyItem[]): Promise<DispatchResult[]>;
  /** One execution; rejects with code NOT_FOUND when there is none. */
  execution(id: string): Promise<Execution>;
  /** A page of executions matching `filter`, newest first. */
  executions(filter?: ExecutionFilter, page?: PageRequest): Promise<ExecutionPage>;
  /** One task; rejects with code NOT_FOUND when there is none. */
  task(id: string): Promise<Task>;
  /** Every task of an execution, flat, parents before children (`buildTaskTree` nests them). */
  tasks(executionId: string): Promise<Task[]>;
  /** The durable functions the server can dispatch. */
  functions(): Promise<DurableFunction[]>;
  /** Cancels an execution; resolves with it (CANCELLING, or already finished). */
  cancel(id: string): Promise<Execution>;
  /**
   * Sends a signal to an execution: it reaches exactly one `ctx.waitForSignal(name)`, in order
   * (queued until a wait takes it). Rejects with code CONFLICT once the execution has finished.
   */
  sendSignal(executionId: string, name: string, payload?: unknown): Promise<SignalDelivery>;
  /** Tasks that failed for good, newest first. */
  deadLetters(filter?: DeadLetterFilter, page?: PageRequest): Promise<DeadLetterPage>;
  /** Runs a dead letter's task again; resolves with its execution, running again from where it failed. */
  replayDeadLetter(id: string): Promise<Execution>;
  /** Removes a dead letter without running it again; rejects with code NOT_FOUND when there is none. */
  discardDeadLetter(id: string): Promise<void>;
  /** The live workers of every process on the server's store, oldest first. */
  workers(): Promise<Worker[]>;
  /**
   * The position of the latest change in the global change sequence: pass it as
   * `executionsUpdates(filter, { since })` to receive every change after this moment, even one
   * made before the subscription is up (`executionsUpdates` without `since` does this itself).
   */
  changeCursor(): Promise<string>;

  /** The execution now, then each newer version; ends after its terminal state. */
  executionUpdates(id: string, options?: LiveOptions): LiveUpdates<Execution>;
  /** The task now, then each newer version; ends after its terminal state. */
  taskUpdates(id: string, options?: LiveOptions): LiveUpdates<Task>;
  /** The live workers now, then again whenever one comes or goes or what it runs changes; never ends by itself. */
  workersUpdates(options?: { signal?: AbortSignal }): LiveUpdates<Worker[]>;
  /** Every change of an execution matching `filter`, from now on (or after `since`); never ends by itself. */
  executionsUpdates(filter?: ExecutionFilter, options?: ListLiveOptions): LiveUpdates<Execution>;
  /**
   * Every task of an execution (or those changed after `since`), then each task change as it is
   * written; ends once the execution is terminal and its tasks are settled. Resumes after a
   * dropped connection from the highest `changeSeq` received.
   */
  executionTasksUpdates(executionId: string, options?: ListLiveOptions): LiveUpdates<Task>;
  /**
   * The chunks of stream `name` of an execution (written by `ctx.stream(name)` in a function),
   * one at a time: the backlog, then each chunk as it is written; ends once the stream is closed.
   * After a dropped connection it resubscribes after the last `seq` it gave you: no gap, no
   * duplicate. A stream not opened yet is waited for.
   */
  stream<T = unknown>(executionId: string, name: string, options?: StreamOptions): LiveUpdates<StreamChunk<T>>;
  /** The streams of an execution (names, lengths, whether closed), oldest first. */
  streams(executionId: string): Promise<StreamInfo[]>;
  /**
   * A live page of executions (a dashboard's list): the first page, then the page again after
   * every change, newest first; rows leaving a state filter drop out.
   */
  executionListUpdates(filter?: ExecutionFilter, options?: ExecutionListOptions): LiveUpdates<ExecutionListSnapshot>;
  /**
   * An execution with all its tasks and their counts (a task tree, a progress bar of finished
   * over total), again after every change; ends after the terminal state.
   */
  taskListUpdates(executionId: string, options?: TaskListOptions): LiveUpdates<TaskListSnapshot>;

  /**
   * Resolves with the execution's result once it completes; rejects with an `ExecutionError`
   * (code EXECUTION_FAILED, EXECUTION_TIMED_OUT or EXECUTION_CANCELLED) when it ends otherwise.
   */
  waitFor<TResult = unknown>(id: string, options?: WaitForOptions): Promise<TResult>;

  /** Ends every live iterator (they reject with kind `closed`) and closes the socket. Idempotent. */
  close(): Promise<void>;
}
