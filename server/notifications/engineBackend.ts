/**
 * What the engine needs from a notification backend, declared once. Our backends (memory, Redis,
 * Postgres LISTEN/NOTIFY) are one; any other backend is adapted once, where the Senpuki is built,
 * so no other code asks a backend what it can do.
 */
import type { ExecutionState, TaskState } from '../engine/types.js';
import { executionChannel, taskChannel, type ChannelListener, type ChannelMessage, type NotificationBackend } from './backend.js';
import { ChannelBackend } from './channelBackend.js';

export interface EngineBackend extends NotificationBackend, ChannelListener {
  /** What carries the notifications (health, banner, metrics): `memory`, `redis`, `postgres` or `custom`. */
  readonly kind: string;
  /** `process`: messages reach this process only; `shared`: every process on the same backend. */
  readonly scope: 'process' | 'shared';
  /** False while the backend knows it cannot deliver (feeds then poll at their fast rate). */
  readonly connected: boolean;
  /** Channels subscribed on the backend's connection, when it can tell (metrics). */
  readonly subscribedChannelCount: number | undefined;
  /** Publishes in order, in as few round trips as the transport allows. Never throws. */
  publishMany(messages: readonly ChannelMessage[]): Promise<void>;
  /** `listener(false)` when the backend loses its connection, `listener(true)` once it is back; returns a remover. */
  addConnectionListener(listener: (connected: boolean) => void): () => void;
  close(): Promise<void>;
}

/** The backend as the engine uses it: ours as they are, anything else behind an adapter. */
export function engineBackendOf(backend: NotificationBackend): EngineBackend {
  return backend instanceof ChannelBackend ? backend : new ForeignBackend(backend);
}

/** What a user's backend may offer beyond the spec's methods; each part is optional. */
type ForeignExtras = Partial<ChannelListener> & {
  kind?: string;
  scope?: 'process' | 'shared';
  connected?: boolean;
  subscribedChannelCount?: number;
  addConnectionListener?: (listener: (connected: boolean) => void) => () => void;
};

const TASK_CHANNEL_PREFIX = taskChannel('');
const EXECUTION_CHANNEL_PREFIX = executionChannel('');

/**
 * A user's backend. The spec's channels always go through its spec methods (it may do more there
 * than move a string); other channels use its `listen`/`publish` when it has them, and are silent
 * otherwise (waits and lists then poll). A backend with only the spec's methods proves it delivers
 * with its first message: until then the engine treats it as disconnected and polls at its fast rate.
 */
class ForeignBackend implements EngineBackend {
  private readonly extras: ForeignExtras;
  private delivered = false;

  constructor(private readonly backend: NotificationBackend) {
    this.extras = backend as NotificationBackend & ForeignExtras;
  }

  get kind(): string {
    return this.extras.kind ?? 'custom';
  }

  get scope(): 'process' | 'shared' {
    return this.extras.scope ?? 'shared';
  }

  get connected(): boolean {
    if (this.extras.connected !== undefined) return this.extras.connected;
    return this.canListen || this.delivered;
  }

  get subscribedChannelCount(): number | undefined {
    return this.extras.subscribedChannelCount;
  }

  private get canListen(): boolean {
    return typeof this.extras.listen === 'function' && typeof this.extras.publish === 'function';
  }

  notifyTaskCompleted(taskId: string): Promise<void> {
    return this.backend.notifyTaskCompleted(taskId);
  }

  notifyTaskUpdated(taskId: string, state: TaskState): Promise<void> {
    return this.backend.notifyTaskUpdated(taskId, state);
  }

  notifyExecutionUpdated(executionId: string, state: ExecutionState): Promise<void> {
    return this.backend.notifyExecutionUpdated(executionId, state);
  }

  subscribeToTask(...args: Parameters<NotificationBackend['subscribeToTask']>) {
    return this.backend.subscribeToTask(...args);
  }

  subscribeToExecution(...args: Parameters<NotificationBackend['subscribeToExecution']>) {
    return this.backend.subscribeToExecution(...args);
  }

  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => void> {
    if (this.canListen) return this.extras.listen!.call(this.backend, channel, onMessage);
    const stream = channel.startsWith(TASK_CHANNEL_PREFIX)
      ? this.backend.subscribeToTask(channel.slice(TASK_CHANNEL_PREFIX.length))
      : channel.startsWith(EXECUTION_CHANNEL_PREFIX)
        ? this.backend.subscribeToExecution(channel.slice(EXECUTION_CHANNEL_PREFIX.length))
        : undefined;
    if (!stream) return () => {};
    const iterator = stream[Symbol.asyncIterator]();
    let stopped = false;
    void (async () => {
      try {
        for (;;) {
          const next = await iterator.next();
          if (next.done || stopped) return;
          this.delivered = true;
          onMessage(JSON.stringify(next.value));
        }
      } catch {
        // A broken stream costs push, never a wait: it polls.
      }
    })();
    return () => {
      stopped = true;
      Promise.resolve(iterator.return?.()).catch(() => {});
    };
  }

  async publish(channel: string, payload: string): Promise<void> {
    await this.publishMany([{ channel, payload }]);
  }

  async publishMany(messages: readonly ChannelMessage[]): Promise<void> {
    // Never throws: a foreign backend's failure (or an unparsable payload) costs a hint, not the write.
    await Promise.allSettled(messages.map(({ channel, payload }) => Promise.resolve().then(() => this.send(channel, payload))));
  }

  addConnectionListener(listener: (connected: boolean) => void): () => void {
    return this.extras.addConnectionListener?.call(this.backend, listener) ?? (() => {});
  }

  async close(): Promise<void> {
    await this.backend.close?.();
  }

  private send(channel: string, payload: string): Promise<void> {
    if (channel.startsWith(TASK_CHANNEL_PREFIX)) {
      const { task_id, state } = JSON.parse(payload) as { task_id: string; state: TaskState };
      return state === 'completed' ? this.backend.notifyTaskCompleted(task_id) : this.backend.notifyTaskUpdated(task_id, state);
    }
    if (channel.startsWith(EXECUTION_CHANNEL_PREFIX)) {
      const { execution_id, state } = JSON.parse(payload) as { execution_id: string; state: ExecutionState };
      return this.backend.notifyExecutionUpdated(execution_id, state);
    }
    return this.canListen ? this.extras.publish!.call(this.backend, channel, payload) : Promise.resolve();
  }
}
