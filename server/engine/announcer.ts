import {
  WORKER_WAKE_CHANNEL,
  hasChannelListener,
  specTaskState,
  type NotificationBackend,
} from '../notifications/backend.js';
import type { Changes } from '../store/store.js';
import { encodeMessage } from '../notifications/channelBackend.js';

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
 */
export class Announcer {
  constructor(
    private readonly notifications: NotificationBackend | undefined,
    /** In-process hook (the local worker's wake-up), called even without a backend. */
    private readonly onWake: (queue: string) => void = () => {},
  ) {}

  async announce(changes: Changes | undefined): Promise<void> {
    if (!changes) return;
    for (const queue of new Set(changes.wakeQueues)) this.onWake(queue);
    const backend = this.notifications;
    if (!backend) return;
    const sends: Promise<void>[] = [];
    for (const task of changes.tasks) {
      sends.push(
        task.state === 'completed' ? backend.notifyTaskCompleted(task.id) : backend.notifyTaskUpdated(task.id, specTaskState(task.state)),
      );
    }
    for (const execution of changes.executions) {
      sends.push(backend.notifyExecutionUpdated(execution.id, execution.state));
    }
    if (hasChannelListener(backend)) {
      for (const task of changes.tasks) {
        sends.push(backend.publish(executionTasksChannel(task.executionId), encodeMessage({ task_id: task.id, state: task.state })));
      }
      for (const execution of changes.executions) {
        sends.push(backend.publish(EXECUTIONS_CHANNEL, encodeMessage({ execution_id: execution.id, state: execution.state })));
      }
      for (const queue of new Set(changes.wakeQueues)) sends.push(backend.publish(WORKER_WAKE_CHANNEL, queue));
    }
    await Promise.allSettled(sends);
  }
}
