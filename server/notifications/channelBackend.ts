import type { ExecutionState, TaskState } from '../engine/types.js';
import {
  EXECUTION_TERMINAL_MESSAGE_STATES,
  NotificationTimeoutError,
  TASK_TERMINAL_MESSAGE_STATES,
  executionChannel,
  taskChannel,
  type ChannelListener,
  type ExecutionMessage,
  type NotificationBackend,
  type SubscribeOptions,
  type TaskMessage,
} from './backend.js';

/**
 * The spec's five methods written once on top of `listen`/`publish`; each transport (memory, Redis,
 * Postgres) only moves strings on channels. Publishing never throws: a lost hint costs latency,
 * the store stays the truth.
 */
export abstract class ChannelBackend implements NotificationBackend, ChannelListener {
  abstract listen(channel: string, onMessage: (payload: string) => void): Promise<() => void>;
  protected abstract publishRaw(channel: string, payload: string): Promise<void>;
  abstract close(): Promise<void>;

  /** Called when a publish fails; the default is silent because callers must never fail on it. */
  onPublishError: (error: unknown, channel: string) => void = () => {};

  async publish(channel: string, payload: string): Promise<void> {
    try {
      await this.publishRaw(channel, payload);
    } catch (error) {
      try {
        this.onPublishError(error, channel);
      } catch {
        // A faulty error hook must not break the caller either.
      }
    }
  }

  notifyTaskCompleted(taskId: string): Promise<void> {
    return this.notifyTaskUpdated(taskId, 'completed');
  }

  notifyTaskUpdated(taskId: string, state: TaskState): Promise<void> {
    const message: TaskMessage = { task_id: taskId, state };
    return this.publish(taskChannel(taskId), JSON.stringify(message));
  }

  notifyExecutionUpdated(executionId: string, state: ExecutionState): Promise<void> {
    const message: ExecutionMessage = { execution_id: executionId, state };
    return this.publish(executionChannel(executionId), JSON.stringify(message));
  }

  subscribeToTask(taskId: string, opts?: SubscribeOptions): AsyncIterable<TaskMessage> {
    return this.stream<TaskMessage>(taskChannel(taskId), TASK_TERMINAL_MESSAGE_STATES, opts?.expiry);
  }

  subscribeToExecution(executionId: string, opts?: SubscribeOptions): AsyncIterable<ExecutionMessage> {
    return this.stream<ExecutionMessage>(
      executionChannel(executionId),
      EXECUTION_TERMINAL_MESSAGE_STATES,
      opts?.expiry,
    );
  }

  private async *stream<T extends { state: string }>(
    channel: string,
    terminalStates: ReadonlySet<string>,
    expirySeconds: number | undefined,
  ): AsyncGenerator<T> {
    const queue: T[] = [];
    let wake: (() => void) | undefined;
    let expired = false;
    const unlisten = await this.listen(channel, (payload) => {
      let message: T;
      try {
        message = JSON.parse(payload) as T;
      } catch {
        return; // Not ours; a foreign publisher on our channel must not break subscribers.
      }
      if (typeof message?.state !== 'string') return;
      queue.push(message);
      wake?.();
    });
    const timer =
      expirySeconds === undefined
        ? undefined
        : setTimeout(() => {
            expired = true;
            wake?.();
          }, expirySeconds * 1000);
    timer?.unref();
    try {
      for (;;) {
        while (queue.length > 0) {
          const message = queue.shift()!;
          yield message;
          if (terminalStates.has(message.state)) return;
        }
        if (expired) throw new NotificationTimeoutError(channel, expirySeconds!);
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      if (timer) clearTimeout(timer);
      unlisten();
    }
  }
}
