import { TERMINAL_EXECUTION_STATES, type ExecutionState, type TaskState } from '../engine/types.js';

/** Message published on `senpuki:task:{task_id}` (spec: `{"task_id": "...", "state": "completed"}`). */
export interface TaskMessage {
  task_id: string;
  state: TaskState;
}

/** Message published on `senpuki:execution:{execution_id}`. */
export interface ExecutionMessage {
  execution_id: string;
  state: ExecutionState;
}

export interface SubscribeOptions {
  /** Seconds after which the stream ends with a `NotificationTimeoutError`. */
  expiry?: number;
}

/**
 * The notification layer's public contract (the spec's protocol in camelCase).
 * Messages are hints: whoever receives one re-reads the row from the store.
 */
export interface NotificationBackend {
  notifyTaskCompleted(taskId: string): Promise<void>;
  notifyTaskUpdated(taskId: string, state: TaskState): Promise<void>;
  /** Ends after `completed`/`failed` (and `cancelled`, should another publisher send it). */
  subscribeToTask(taskId: string, opts?: SubscribeOptions): AsyncIterable<TaskMessage>;
  notifyExecutionUpdated(executionId: string, state: ExecutionState): Promise<void>;
  /** Ends after `completed`/`failed`/`timed_out`/`cancelled`. */
  subscribeToExecution(executionId: string, opts?: SubscribeOptions): AsyncIterable<ExecutionMessage>;
  /** Releases connections; optional, as in the spec's protocol (the engine calls it when present). */
  close?(): Promise<void>;
}

/**
 * Optional lower-level hooks a backend may offer. The change feed uses them when present to know
 * when a subscription is live (so no message between "subscribe" and "read snapshot" is lost) and
 * to listen to raw channels such as the worker wake-up channel. Without them it falls back to
 * `subscribeTo*` and polling.
 */
export interface ChannelListener {
  /** Resolves once the channel is subscribed; the returned function unsubscribes (idempotent). */
  listen(channel: string, onMessage: (payload: string) => void): Promise<() => void>;
  publish(channel: string, payload: string): Promise<void>;
  /**
   * Publishes many messages at once, in order, in as few round trips as the transport allows
   * (one Redis pipeline, one NOTIFY statement). Never throws.
   */
  publishMany?(messages: readonly ChannelMessage[]): Promise<void>;
}

/** One payload for one channel. */
export interface ChannelMessage {
  channel: string;
  payload: string;
}

export const TASK_TERMINAL_MESSAGE_STATES: ReadonlySet<string> = new Set(['completed', 'failed']);
/** Where our task streams end: the spec's terminal states, and `cancelled` should a publisher send it. */
export const TASK_STREAM_END_STATES: ReadonlySet<string> = new Set([...TASK_TERMINAL_MESSAGE_STATES, 'cancelled']);

/**
 * The state announced on the spec's task channel. Its vocabulary ends a task with `completed` or
 * `failed`, and consumers written to it wait for one of those: a cancelled task (its execution
 * was cancelled or timed out) will never complete, so it is announced as `failed`; whoever wants
 * the detail re-reads the row, which says `cancelled`. Our own channels carry the true state.
 */
export function specTaskState(state: TaskState): TaskState {
  return state === 'cancelled' ? 'failed' : state;
}
/** The execution channel's vocabulary is the stored one: its terminal states are the execution's. */
export const EXECUTION_TERMINAL_MESSAGE_STATES: ReadonlySet<string> = TERMINAL_EXECUTION_STATES;

export const taskChannel = (taskId: string): string => `senpuki:task:${taskId}`;
export const executionChannel = (executionId: string): string => `senpuki:execution:${executionId}`;
/** Not in the spec: idle workers listen here to be woken by dispatches. Payload: the queue name. */
export const WORKER_WAKE_CHANNEL = 'senpuki:workers:wake';

export function hasChannelListener(backend: unknown): backend is NotificationBackend & ChannelListener {
  return (
    typeof backend === 'object' &&
    backend !== null &&
    typeof (backend as ChannelListener).listen === 'function' &&
    typeof (backend as ChannelListener).publish === 'function'
  );
}

/** Raised by a subscription stream whose `expiry` passed before it ended. */
export class NotificationTimeoutError extends Error {
  override name = 'NotificationTimeoutError';
  constructor(channel: string, expirySeconds: number) {
    super(`No terminal message on ${channel} within ${expirySeconds}s`);
  }
}
