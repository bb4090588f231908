import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import type { ExecutionState, TaskState } from '../server/engine/types.js';
import {
  NotificationTimeoutError,
  hasChannelListener,
  type ExecutionMessage,
  type NotificationBackend,
  type SubscribeOptions,
  type TaskMessage,
} from '../server/notifications/backend.js';
import { MemoryBackend } from '../server/notifications/memoryBackend.js';
import { take, waitFor } from './helpers/conditions.js';

/** Starts consuming `iterable`; resolves with what it yielded once it ends. */
function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const done = (async () => {
    const values: T[] = [];
    for await (const value of iterable) values.push(value);
    return values;
  })();
  done.catch(() => {});
  return done;
}

describe('MemoryBackend', () => {
  test('a task stream receives updates in order and ends after "completed"', async () => {
    const notifications = new MemoryBackend();
    try {
      const taskId = randomUUID();
      const done = collect(notifications.subscribeToTask(taskId));
      await waitFor(() => notifications.subscribedChannelCount === 1, { message: 'the listener' });
      await notifications.notifyTaskUpdated(taskId, 'running');
      await notifications.notifyTaskCompleted(taskId);
      await notifications.notifyTaskUpdated(taskId, 'running');
      assert.deepEqual(await done, [
        { task_id: taskId, state: 'running' },
        { task_id: taskId, state: 'completed' },
      ]);
      assert.equal(notifications.subscribedChannelCount, 0);
    } finally {
      await notifications.close();
    }
  });

  for (const terminal of ['completed', 'failed', 'timed_out', 'cancelled'] as const) {
    test(`an execution stream ends after "${terminal}" and ignores other executions`, async () => {
      const notifications = new MemoryBackend();
      try {
        const executionId = randomUUID();
        const done = collect(notifications.subscribeToExecution(executionId));
        await waitFor(() => notifications.subscribedChannelCount === 1, { message: 'the listener' });
        await notifications.notifyExecutionUpdated(randomUUID(), 'failed');
        await notifications.notifyExecutionUpdated(executionId, terminal);
        assert.deepEqual(await done, [{ execution_id: executionId, state: terminal }]);
      } finally {
        await notifications.close();
      }
    });
  }

  test('payloads that are not spec messages are skipped, not fatal', async () => {
    const notifications = new MemoryBackend();
    try {
      const taskId = randomUUID();
      const done = collect(notifications.subscribeToTask(taskId));
      await waitFor(() => notifications.subscribedChannelCount === 1, { message: 'the listener' });
      await notifications.publish(`senpuki:task:${taskId}`, 'not json');
      await notifications.publish(`senpuki:task:${taskId}`, '{"task_id":"x"}');
      await notifications.notifyTaskUpdated(taskId, 'failed');
      assert.deepEqual(await done, [{ task_id: taskId, state: 'failed' }]);
    } finally {
      await notifications.close();
    }
  });

  test('a user-defined object with the five methods and close is a NotificationBackend', async () => {
    // The compile-time half: this object literal must satisfy the public interface.
    const published: string[] = [];
    const own: NotificationBackend = {
      async notifyTaskCompleted(taskId: string) {
        published.push(`task ${taskId} completed`);
      },
      async notifyTaskUpdated(taskId: string, state: TaskState) {
        published.push(`task ${taskId} ${state}`);
      },
      async *subscribeToTask(taskId: string, _opts?: SubscribeOptions): AsyncGenerator<TaskMessage> {
        yield { task_id: taskId, state: 'completed' };
      },
      async notifyExecutionUpdated(executionId: string, state: ExecutionState) {
        published.push(`execution ${executionId} ${state}`);
      },
      async *subscribeToExecution(executionId: string): AsyncGenerator<ExecutionMessage> {
        yield { execution_id: executionId, state: 'cancelled' };
      },
      async close() {},
    };
    const useBackend = async (backend: NotificationBackend) => {
      await backend.notifyTaskCompleted('t1');
      await backend.notifyExecutionUpdated('e1', 'running');
      return [...(await take(backend.subscribeToTask('t1'), 5)), ...(await take(backend.subscribeToExecution('e1'), 5))];
    };
    // The runtime half: it is used like a built-in one, and is not mistaken for a ChannelListener.
    assert.deepEqual(await useBackend(own), [
      { task_id: 't1', state: 'completed' },
      { execution_id: 'e1', state: 'cancelled' },
    ]);
    assert.deepEqual(published, ['task t1 completed', 'execution e1 running']);
    assert.equal(hasChannelListener(own), false);
    const memory = new MemoryBackend();
    assert.equal(hasChannelListener(memory), true);
    await memory.close();
    await own.close?.();
  });

  // Last in the file: if the expiry timer does not hold the event loop, the process runs dry here
  // (an awaited timer must not be unref()'d) and every later test would be cancelled.
  test('a stream without a terminal message ends with NotificationTimeoutError after its expiry', async () => {
    const notifications = new MemoryBackend();
    try {
      await assert.rejects(take(notifications.subscribeToTask(randomUUID(), { expiry: 0.05 }), 1), NotificationTimeoutError);
      assert.equal(notifications.subscribedChannelCount, 0);
    } finally {
      await notifications.close();
    }
  });
});
