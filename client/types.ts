import type { ExecutionFields, FunctionsQuery, TaskFields, WorkerFields } from './documents.js';
import type { ResultOf, VariablesOf } from './graphql.js';
import type { DeadLetterFields, DeadLettersQuery, DispatchMutation, ExecutionsQuery, ExecutionStreamsQuery, SendSignalMutation } from './documents.js';

/** One run of a durable function, as the API sends it (`version` grows by one on every change). */
export type Execution = ResultOf<typeof ExecutionFields>;

/** One step of an execution; `parentId` is null for the root task. */
export type Task = ResultOf<typeof TaskFields>;

/**
 * One chunk of a stream (`ctx.stream(name)` in a function). `seq` numbers the stream's chunks from
 * 1; `run` says which run of the writing task wrote it: a re-run whose output differs starts the
 * next run, whose chunks are its whole output, so a view of the result shows the latest run's.
 */
export interface StreamChunk<T = unknown> {
  seq: number;
  run: number;
  data: T;
}

/** A stream of an execution, without its chunks. */
export type StreamInfo = NonNullable<ResultOf<typeof ExecutionStreamsQuery>['execution']>['streams'][number];

/** A live worker process: what it serves (queues, tags, functions) and how busy it is. */
export type Worker = ResultOf<typeof WorkerFields>;

/** A durable function the server can dispatch. */
export type DurableFunction = ResultOf<typeof FunctionsQuery>['functions'][number];

/** PENDING → RUNNING → COMPLETED | FAILED | TIMED_OUT, or CANCELLING → CANCELLED. */
export type ExecutionState = Execution['state'];

/** PENDING → RUNNING → COMPLETED | FAILED; WAITING for sleeps and signals; CANCELLED. */
export type TaskState = Task['state'];

/** Why an execution or task failed. */
export type ErrorInfo = NonNullable<Execution['error']>;

/** Every given field must match (state: any of these). */
export type ExecutionFilter = NonNullable<VariablesOf<typeof ExecutionsQuery>['filter']>;

/** Options of `dispatch`, as in `DispatchInput` (durations in ms or text such as "10s"). */
export type DispatchOptions = Omit<VariablesOf<typeof DispatchMutation>['input'], 'function' | 'args'>;

/** What `dispatch` returns. */
export interface DispatchResult {
  executionId: string;
  /** A short-lived read token for this execution only: hand it to a browser. */
  token: string;
  tokenExpiresAt: string;
  /** False when an earlier dispatch with the same idempotencyKey was returned. */
  created: boolean;
  /** The execution right after dispatch (usually PENDING). */
  execution: Execution;
}

/** One execution of `dispatchMany`. */
export interface DispatchManyItem {
  /** Name of a registered durable function. */
  fn: string;
  /** Its arguments, one per parameter (default none). */
  args?: readonly unknown[];
  options?: DispatchOptions;
}

/** What `sendSignal` returns. */
export type SignalDelivery = ResultOf<typeof SendSignalMutation>['sendSignal'];

/** A task that failed for good (retries exhausted or not retryable); `replayDeadLetter` runs it again. */
export type DeadLetter = ResultOf<typeof DeadLetterFields>;

/** Which dead letters to list. */
export type DeadLetterFilter = NonNullable<VariablesOf<typeof DeadLettersQuery>['filter']>;

/** One page of dead letters, newest first. */
export interface DeadLetterPage {
  deadLetters: DeadLetter[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/** Relay paging of `executions`: `after` is the previous page's `endCursor`. */
export interface PageRequest {
  /** Page size, 1-200 (server default 20). */
  first?: number;
  after?: string | null;
}

/** One page of executions, newest first. */
export interface ExecutionPage {
  executions: Execution[];
  totalCount: number;
  hasNextPage: boolean;
  /** Pass as `after` to get the next page. */
  endCursor: string | null;
}

/** States after which an execution never changes again. */
export const TERMINAL_EXECUTION_STATES: ReadonlySet<ExecutionState> = new Set(['COMPLETED', 'FAILED', 'TIMED_OUT', 'CANCELLED']);

/** States after which a task never changes again. */
export const TERMINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
