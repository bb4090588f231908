/**
 * Public data shapes of the engine: states, rows as the store returns them, and options.
 *
 * Execution states:
 *
 *   pending ──► running ──► completed
 *      │           ├──────► failed ──► running   (only replayDeadLetter, only from failed)
 *      │           ├──────► timed_out      (maxDuration passed)
 *      └───────────┴──────► cancelling ──► cancelled
 *
 * Task states:
 *
 *   pending ──► running ──► completed
 *      ▲           ├──────► failed         (retries exhausted or non-retryable)
 *      └── retry ──┤
 *   waiting ───────┴──────► completed      (sleep due / signal delivered)
 *      └──────────────────► failed         (signal wait timed out)
 *   any non-terminal ─────► cancelled      (its execution was cancelled or timed out)
 *   failed / cancelled ───► pending / waiting  (replayDeadLetter of a failed execution)
 */

export const EXECUTION_STATES = [
  'pending',
  'running',
  'completed',
  'failed',
  'timed_out',
  'cancelling',
  'cancelled',
] as const;
export type ExecutionState = (typeof EXECUTION_STATES)[number];

export const TERMINAL_EXECUTION_STATES: ReadonlySet<ExecutionState> = new Set([
  'completed',
  'failed',
  'timed_out',
  'cancelled',
]);

export const TASK_STATES = ['pending', 'running', 'waiting', 'completed', 'failed', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const TERMINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(['completed', 'failed', 'cancelled']);

/** What a task row stands for: a call of a durable function, a durable sleep or a signal wait. */
export type TaskKind = 'function' | 'sleep' | 'signal';

/** JSON values: what arguments, results and progress may hold. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** How errors are stored and reported: JSON, never a live Error object. */
export interface StoredError {
  name: string;
  message: string;
  stack?: string;
  data?: Json;
}

export interface Progress {
  done: number;
  total: number;
  message?: string;
}

export interface ExecutionRecord {
  id: string;
  functionName: string;
  args: Json[];
  state: ExecutionState;
  result: Json | undefined;
  error: StoredError | undefined;
  queue: string;
  tags: string[];
  priority: number;
  idempotencyKey: string | undefined;
  rootTaskId: string;
  progress: Progress | undefined;
  /** Free-form state a function publishes with `ctx.setState`. */
  customState: Json | undefined;
  counters: Record<string, number>;
  createdAt: Date;
  startedAt: Date | undefined;
  finishedAt: Date | undefined;
  deadlineAt: Date | undefined;
  /** Increases by one on every write of this row. */
  version: number;
  /** Global change sequence of the last write (orders writes across rows). */
  changeSeq: string;
}

/** How one run of a task ended: completed, retried (it threw, a retry is due), failed (for good), released (handed back at shutdown), lost (its worker died), cancelled (its execution ended meanwhile). */
export type TaskRunOutcomeName = 'completed' | 'retried' | 'failed' | 'released' | 'lost' | 'cancelled';

/** One finished run of a task (an attempt, or a part of one a worker lost). */
export interface TaskRun {
  attempt: number;
  /** Undefined for runs written before runs were recorded. */
  startedAt: Date | undefined;
  finishedAt: Date;
  outcome: TaskRunOutcomeName;
  /** The worker that ran it. */
  worker: string | undefined;
  error: { name: string; message: string } | undefined;
}

export interface TaskRecord {
  id: string;
  executionId: string;
  parentTaskId: string | undefined;
  /** Deterministic key of a child call: `<parent task id>:<call sequence>`; undefined for the root. */
  callKey: string | undefined;
  /** The parent's attempt that (re)started this child. */
  parentAttempt: number;
  kind: TaskKind;
  functionName: string;
  args: Json[];
  state: TaskState;
  result: Json | undefined;
  error: StoredError | undefined;
  attempt: number;
  maxAttempts: number;
  queue: string;
  tags: string[];
  priority: number;
  scheduledFor: Date;
  leaseOwner: string | undefined;
  leaseExpiresAt: Date | undefined;
  createdAt: Date;
  startedAt: Date | undefined;
  finishedAt: Date | undefined;
  version: number;
  changeSeq: string;
  /** Its finished runs, oldest first (the last 50). */
  runs: TaskRun[];
  /** The W3C trace context of the span that made it (a dispatch or a call); undefined when untraced. */
  traceContext: Record<string, string> | undefined;
}

export interface DeadLetterRecord {
  id: string;
  taskId: string;
  executionId: string;
  functionName: string;
  args: Json[];
  error: StoredError;
  attempts: number;
  createdAt: Date;
}

/** `'10m'`, `'1.5s'`, `'2 hours'` or a number of milliseconds. */
export type Duration = number | string;

/** One chunk of a stream (`ctx.stream(name)`), as readers get it. */
export interface StreamChunk<T = Json> {
  /** 1 for the first chunk of the stream, then 2, 3, ...: resume after the last one you have. */
  seq: number;
  /**
   * Which run of the writing task wrote it: 1, then one more each time a re-run (a retry, a
   * resume on another worker) wrote something other than the stream held. The chunks of the
   * highest run are that run's whole output; earlier runs' chunks are what readers saw before.
   */
  run: number;
  data: T;
}

/** A stream of an execution, without its chunks. */
export interface StreamInfo {
  executionId: string;
  name: string;
  /** The task writing it (the one that opened it). */
  taskId: string;
  /** Chunks written: the `seq` of the last one (0 while empty). */
  length: number;
  /** The run of its latest chunks (see `StreamChunk.run`). */
  run: number;
  /** Closed by the function, or its task or execution finished: nothing more will be written. */
  closed: boolean;
  createdAt: Date;
}

/** A worker as it records itself (see `senpuki_workers`): what it serves and how busy it is. */
export interface WorkerRecord {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  /** Only tasks sharing one of these tags; undefined for any task. */
  tags: string[] | undefined;
  /** Functions registered in its process. */
  functions: string[];
  concurrency: number;
  /** Tasks holding a slot. */
  running: number;
  /** Orchestrators waiting in memory, holding no slot. */
  suspended: number;
  startedAt: Date;
  lastSeenAt: Date;
}
