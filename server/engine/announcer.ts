import { randomUUID } from 'node:crypto';
import { WORKER_WAKE_CHANNEL, executionChannel, specTaskState, taskChannel, type ChannelMessage } from '../notifications/backend.js';
import type { EngineBackend } from '../notifications/engineBackend.js';
import type { Changes } from '../store/store.js';
import { encodeMessage } from '../notifications/channelBackend.js';
import { encodeWakeUp } from '../notifications/wakeUps.js';

/** Not in the spec: every execution change, for list subscriptions (dashboards). Same JSON as the execution channel. */
export const EXECUTIONS_CHANNEL = 'senpuki:executions';

/**
 * Not in the spec: every task change of one execution, for its task list subscription (progress
 * bars, task trees), which would otherwise need a channel per task. Same JSON as the task channel.
 */
export const executionTasksChannel = (executionId: string): string => `senpuki:execution-tasks:${executionId}`;

/**
 * Publishes what a committed write changed: the spec's task and execution messages, the
 * executions list and execution-tasks channels, and a wake-up for idle workers per queue.
 * Never throws (the backends swallow publish errors), never called before the write commits.
 *
 * On a backend that can publish many messages at once, every announcement made in one turn of
 * the event loop (a batch of settled tasks, a bulk dispatch) goes out together: one Redis
 * pipeline or one NOTIFY statement, with the same channels and payloads, in the same order.
 */
export class Announcer {
  /**
   * Said in every wake-up it publishes: the engine's own workers were nudged in-process already
   * (`onWake`), so they skip wake-ups of their own origin instead of claiming twice.
   */
  readonly origin = randomUUID();
  private pending: ChannelMessage[] = [];
  private flushed: Promise<void> | undefined;

  constructor(
    private readonly notifications: EngineBackend | undefined,
    /** In-process hook (the local worker's wake-up), called even without a backend. */
    private readonly onWake: (queue: string) => void = () => {},
  ) {}

  async announce(changes: Changes | undefined): Promise<void> {
    if (!changes) return;
    const wakeQueues = new Set(changes.wakeQueues);
    for (const queue of wakeQueues) this.onWake(queue);
    const backend = this.notifications;
    if (!backend) return;
    return this.enqueue(backend, messagesOf(changes, wakeQueues, this.origin));
  }

  /** Resolves once this turn's messages were handed to the backend. */
  private enqueue(backend: EngineBackend, messages: ChannelMessage[]): Promise<void> {
    this.pending.push(...messages);
    this.flushed ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        const batch = this.pending;
        this.pending = [];
        this.flushed = undefined;
        void backend.publishMany(batch).finally(resolve);
      }),
    );
    return this.flushed;
  }
}

/** The messages a change makes, in the order they were always sent: spec channels first. */
function messagesOf(changes: Changes, wakeQueues: Set<string>, origin: string): ChannelMessage[] {
  const messages: ChannelMessage[] = [];
  for (const task of changes.tasks) {
    // The spec's task channel knows no `cancelled`: a cancelled task ends its streams as `failed` (as notifyTaskUpdated says it).
    messages.push({ channel: taskChannel(task.id), payload: encodeMessage({ task_id: task.id, state: specTaskState(task.state) }) });
  }
  for (const execution of changes.executions) {
    messages.push({ channel: executionChannel(execution.id), payload: encodeMessage({ execution_id: execution.id, state: execution.state }) });
  }
  for (const task of changes.tasks) {
    messages.push({ channel: executionTasksChannel(task.executionId), payload: encodeMessage({ task_id: task.id, state: task.state }) });
  }
  for (const execution of changes.executions) {
    messages.push({ channel: EXECUTIONS_CHANNEL, payload: encodeMessage({ execution_id: execution.id, state: execution.state }) });
  }
  for (const queue of wakeQueues) messages.push({ channel: WORKER_WAKE_CHANNEL, payload: encodeWakeUp({ queue, origin }) });
  return messages;
}
