import type { ExecutionState, Json, StoredError } from './domain/types.js';

/** Machine-readable error codes; the GraphQL layer maps them to `extensions.code`. */
export type SenpukiErrorCode =
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'TIMEOUT'
  | 'EXECUTION_FAILED'
  | 'EXECUTION_TIMED_OUT'
  | 'EXECUTION_CANCELLED'
  | 'STORE_LOCKED'
  /** A limit of the server was reached (open subscriptions); the message names it. */
  | 'LIMIT_EXCEEDED'
  /** The store could not be reached just now; the same request may succeed in a moment. */
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** Base of every error the engine raises on purpose. */
export class SenpukiError extends Error {
  override name = 'SenpukiError';
  constructor(
    readonly code: SenpukiErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The caller sent something we cannot use; the message says what to change. */
export class ValidationError extends SenpukiError {
  override name = 'ValidationError';
  constructor(message: string) {
    super('BAD_USER_INPUT', message);
  }
}

export class NotFoundError extends SenpukiError {
  override name = 'NotFoundError';
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

export class ConflictError extends SenpukiError {
  override name = 'ConflictError';
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

/** `waitFor` (or a wait inside a function) ran out of time; the execution itself goes on. */
export class WaitTimeoutError extends SenpukiError {
  override name = 'WaitTimeoutError';
  constructor(message: string) {
    super('TIMEOUT', message);
  }
}

/**
 * Thrown inside a durable function by `ctx.waitForSignal(name, { timeoutMs })` when no signal of
 * that name arrived in time. Catch it to take another path; a replay throws it again.
 */
export class SignalTimeoutError extends SenpukiError {
  override name = 'SignalTimeoutError';
  constructor(
    readonly signalName: string,
    readonly timeoutMs: number,
  ) {
    super('TIMEOUT', `No signal "${signalName}" arrived within ${timeoutMs} ms`);
  }
}

/** The embedded store's data directory is held by another process. */
export class StoreLockedError extends SenpukiError {
  override name = 'StoreLockedError';
  constructor(message: string) {
    super('STORE_LOCKED', message);
  }
}

/** An execution ended in a state other than `completed`; `waitFor` rejects with this. */
export class ExecutionError extends SenpukiError {
  override name = 'ExecutionError';
  constructor(
    readonly executionId: string,
    readonly state: Exclude<ExecutionState, 'completed'>,
    readonly cause_: StoredError | undefined,
  ) {
    super(
      state === 'timed_out' ? 'EXECUTION_TIMED_OUT' : state === 'cancelled' ? 'EXECUTION_CANCELLED' : 'EXECUTION_FAILED',
      `Execution ${executionId} ${state === 'timed_out' ? 'timed out' : state}` +
        (cause_ ? `: ${cause_.name}: ${cause_.message}` : ''),
    );
  }
}

/**
 * Thrown by user code to fail a task at once, whatever the retry policy says.
 * `data` is stored with the error.
 */
export class NonRetryableError extends Error {
  override name = 'NonRetryableError';
  constructor(
    message: string,
    readonly data?: Json,
  ) {
    super(message);
  }
}

/** Turns anything thrown into the stored `{ name, message, stack?, data? }` shape. */
export function toStoredError(error: unknown): StoredError {
  if (error instanceof Error) {
    const stored: StoredError = { name: error.name, message: error.message };
    if (error.stack) stored.stack = error.stack;
    const data = (error as { data?: unknown }).data;
    if (data !== undefined) {
      try {
        stored.data = JSON.parse(JSON.stringify(data)) as Json;
      } catch {
        // Data that is not JSON is dropped rather than failing the failure path.
      }
    }
    return stored;
  }
  return { name: 'Error', message: typeof error === 'string' ? error : safeString(error) };
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Why a running task's `ctx.signal` was aborted. */
export type AbortCause = 'cancelled' | 'timed_out' | 'lease_lost' | 'shutdown';

/** The reason of an aborted `ctx.signal`, and what waits inside a function reject with. */
export class TaskAbortedError extends SenpukiError {
  override name = 'TaskAbortedError';
  constructor(readonly cause_: AbortCause) {
    super(
      cause_ === 'timed_out' ? 'EXECUTION_TIMED_OUT' : cause_ === 'cancelled' ? 'EXECUTION_CANCELLED' : 'INTERNAL',
      {
        cancelled: 'The execution was cancelled',
        timed_out: 'The execution ran past its maxDuration',
        lease_lost: 'This worker lost the task lease; another worker has taken it over',
        shutdown: 'The worker is shutting down; the task will resume on another worker',
      }[cause_],
    );
  }
}

/** A child task failed for good; carries the child's stored error, keeping its `name` for `retryOn`. */
export class ChildTaskError extends Error {
  readonly data: Json | undefined;
  constructor(
    readonly taskId: string,
    readonly functionName: string,
    readonly remote: StoredError,
  ) {
    super(`${functionName} failed: ${remote.message}`);
    this.name = remote.name;
    this.data = remote.data;
  }
}

/**
 * A replayed durable function made a different call than its earlier run at the same position.
 * Not retryable: the code or its inputs changed in a way a replay cannot reconcile.
 */
export class NonDeterminismError extends NonRetryableError {
  override name = 'NonDeterminismError';
}
