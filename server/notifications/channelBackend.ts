import type { ExecutionState, TaskState } from '../engine/types.js';
import {
  EXECUTION_TERMINAL_MESSAGE_STATES,
  NotificationTimeoutError,
  TASK_STREAM_END_STATES,
  executionChannel,
  taskChannel,
  type ChannelMessage,
  type ExecutionMessage,
  type SubscribeOptions,
  type TaskMessage,
} from './backend.js';
import type { EngineBackend } from './engineBackend.js';

/**
 * The spec's five methods written once on top of `listen`/`publish`; each transport (memory, Redis,
 * Postgres) only moves strings on channels. Publishing never throws: a lost hint costs latency,
 * the store stays the truth.
 */
export abstract class ChannelBackend implements EngineBackend {
  /** What carries the notifications (health reports, banners). */
  abstract readonly kind: string;
  /** Whom a message reaches: every process on the backend, unless a transport says otherwise. */
  readonly scope: 'process' | 'shared' = 'shared';

  /** False while the transport knows its subscriber connection is down. */
  get connected(): boolean {
    return true;
  }

  /** Channels subscribed on the transport's connection (metrics). */
  abstract readonly subscribedChannelCount: number | undefined;

  abstract listen(channel: string, onMessage: (payload: string) => void): Promise<() => void>;
  protected abstract publishRaw(channel: string, payload: string): Promise<void>;
  abstract close(): Promise<void>;

  /** Called when a publish fails; the default is silent because callers must never fail on it. */
  onPublishError: (error: unknown, channel: string) => void = () => {};

  private readonly connectionListeners = new Set<(connected: boolean) => void>();

  /**
   * Runs `listener(false)` when the backend loses its connection and `listener(true)` when it is
   * back with every channel subscribed again. Messages sent in between are lost, so change feeds
   * re-read their rows on both, and poll fast while disconnected. Returns a remover.
   */
  addConnectionListener(listener: (connected: boolean) => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  /** Transports call this once resubscribed after an outage. Never throws. */
  protected onReconnect(): void {
    this.tellConnectionListeners(true);
  }

  /** Transports call this when the subscriber connection drops. Never throws. */
  protected onDisconnect(): void {
    this.tellConnectionListeners(false);
  }

  private tellConnectionListeners(connected: boolean): void {
    for (const listener of [...this.connectionListeners]) {
      try {
        listener(connected);
      } catch {
        // One faulty listener must not stop the others, nor the transport.
      }
    }
  }

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

  async publishMany(messages: readonly ChannelMessage[]): Promise<void> {
    if (messages.length === 0) return;
    try {
      await this.publishManyRaw(messages);
    } catch (error) {
      try {
        this.onPublishError(error, messages[0]!.channel);
      } catch {
        // A faulty error hook must not break the caller either.
      }
    }
  }

  /** One message at a time unless the transport can do better (Redis pipelines, one NOTIFY statement). */
  protected async publishManyRaw(messages: readonly ChannelMessage[]): Promise<void> {
    const results = await Promise.allSettled(messages.map(({ channel, payload }) => this.publishRaw(channel, payload)));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  notifyTaskCompleted(taskId: string): Promise<void> {
    return this.notifyTaskUpdated(taskId, 'completed');
  }

  notifyTaskUpdated(taskId: string, state: TaskState): Promise<void> {
    return this.publish(taskChannel(taskId), encodeMessage({ task_id: taskId, state } satisfies TaskMessage));
  }

  notifyExecutionUpdated(executionId: string, state: ExecutionState): Promise<void> {
    return this.publish(
      executionChannel(executionId),
      encodeMessage({ execution_id: executionId, state } satisfies ExecutionMessage),
    );
  }

  subscribeToTask(taskId: string, opts?: SubscribeOptions): AsyncIterable<TaskMessage> {
    return this.stream<TaskMessage>(taskChannel(taskId), TASK_STREAM_END_STATES, opts?.expiry);
  }

  subscribeToExecution(executionId: string, opts?: SubscribeOptions): AsyncIterable<ExecutionMessage> {
    return this.stream<ExecutionMessage>(
      executionChannel(executionId),
      EXECUTION_TERMINAL_MESSAGE_STATES,
      opts?.expiry,
    );
  }

  /**
   * The messages of one channel until a terminal one, as an iterator whose `return()` takes
   * effect at once, even while a `next()` is parked waiting for a message (an async generator
   * would defer it until the next message, keeping the channel subscribed meanwhile).
   */
  private stream<T extends { state: string }>(
    channel: string,
    terminalStates: ReadonlySet<string>,
    expirySeconds: number | undefined,
  ): AsyncIterableIterator<T> {
    const queue: T[] = [];
    let parked: ((result: IteratorResult<T>) => void) | undefined;
    let failParked: ((error: unknown) => void) | undefined;
    let ended = false;
    let terminalQueued = false;
    let expired = false;
    let timer: NodeJS.Timeout | undefined;
    let unlisten: (() => void) | undefined;
    const end = () => {
      ended = true;
      clearTimeout(timer);
      unlisten?.();
      unlisten = undefined;
    };
    const flush = () => {
      if (!parked) return;
      const resolve = parked;
      const reject = failParked!;
      if (queue.length > 0) {
        parked = failParked = undefined;
        const message = queue.shift()!;
        if (terminalStates.has(message.state)) end();
        resolve({ done: false, value: message });
      } else if (expired) {
        parked = failParked = undefined;
        end();
        reject(new NotificationTimeoutError(channel, expirySeconds!));
      } else if (ended) {
        parked = failParked = undefined;
        resolve({ done: true, value: undefined });
      }
    };
    const listening = this.listen(channel, (payload) => {
      let message: T;
      try {
        message = JSON.parse(payload) as T;
      } catch {
        return; // Not ours; a foreign publisher on our channel must not break subscribers.
      }
      // Nothing after the terminal message: it may still be queued, unread, when later ones arrive.
      if (ended || terminalQueued || typeof message?.state !== 'string') return;
      queue.push(message);
      if (terminalStates.has(message.state)) terminalQueued = true;
      flush();
    }).then((stop) => {
      if (ended) stop();
      else unlisten = stop;
    });
    listening.catch(() => {}); // reported by next(); an iterator never read must not crash the process
    if (expirySeconds !== undefined) {
      timer = setTimeout(() => {
        expired = true;
        flush();
      }, expirySeconds * 1000);
    }
    const iterator: AsyncIterableIterator<T> = {
      [Symbol.asyncIterator]: () => iterator,
      async next() {
        await listening; // a failed listen rejects here, as the subscription's error
        if (ended && queue.length === 0) return { done: true, value: undefined };
        return new Promise<IteratorResult<T>>((resolve, reject) => {
          parked = resolve;
          failParked = reject;
          flush();
        });
      },
      async return() {
        end();
        queue.length = 0;
        flush();
        return { done: true, value: undefined };
      },
    };
    return iterator;
  }
}

/**
 * Serialises a message exactly as the Python original does (`json.dumps`: `", "` and `": "`
 * separators), so byte-comparing consumers on the same channels keep working.
 */
export function encodeMessage(message: TaskMessage | ExecutionMessage): string {
  return `{${Object.entries(message)
    .map(([key, value]) => `${JSON.stringify(key)}: ${JSON.stringify(value)}`)
    .join(', ')}}`;
}
