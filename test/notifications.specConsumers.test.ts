import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ExecutionState, TaskState } from '../server/engine/types.js';
import type { ExecutionMessage, NotificationBackend, TaskMessage } from '../server/notifications/backend.js';
import { MemoryBackend } from '../server/notifications/memoryBackend.js';
import { Senpuki } from '../server/engine/senpuki.js';
import { Store } from '../server/store/store.js';
import { waitFor } from './helpers/conditions.js';

/** A user's backend with exactly the spec's five methods, built on a MemoryBackend it does not expose. */
function specOnlyBackend(inner: MemoryBackend, overrides: Partial<NotificationBackend> = {}): NotificationBackend {
  return {
    notifyTaskCompleted: (taskId: string) => inner.notifyTaskCompleted(taskId),
    notifyTaskUpdated: (taskId: string, state: TaskState) => inner.notifyTaskUpdated(taskId, state),
    subscribeToTask: (taskId: string) => inner.subscribeToTask(taskId),
    notifyExecutionUpdated: (executionId: string, state: ExecutionState) => inner.notifyExecutionUpdated(executionId, state),
    subscribeToExecution: (executionId: string) => inner.subscribeToExecution(executionId),
    ...overrides,
  };
}

describe('the notification layer as consumers written to the spec see it', () => {
  it('return() on a stream parked in next() ends it at once and unsubscribes its channel', async () => {
    const notifications = new MemoryBackend();
    try {
      const iterator = notifications.subscribeToTask(randomUUID())[Symbol.asyncIterator]();
      const parked = iterator.next();
      await waitFor(() => notifications.channelCount === 1, { message: 'the channel to be subscribed' });
      const returned = await iterator.return!();
      assert.deepEqual(returned, { done: true, value: undefined });
      assert.deepEqual(await parked, { done: true, value: undefined }, 'the parked next() ends too');
      assert.equal(notifications.channelCount, 0, 'the channel is unsubscribed');
    } finally {
      await notifications.close();
    }
  });

  it('a task of a cancelled execution ends a spec consumer\'s task stream (announced as failed); the execution says cancelled', async () => {
    const notifications = new MemoryBackend();
    const store = await Store.embedded({ dataDir: 'memory://' });
    const senpuki = new Senpuki({ store, notifications, pollMinIntervalMs: 20 });
    try {
      senpuki.durable('waitsForever', async (ctx) => ctx.waitForSignal('never'));
      const worker = await senpuki.serve();
      const id = await senpuki.dispatch('waitsForever', []);
      const signalWait = await waitFor(async () => (await senpuki.listTasks(id)).find((task) => task.kind === 'signal'), { message: 'the signal wait' });
      const taskMessages: TaskMessage[] = [];
      const taskStream = (async () => {
        for await (const message of notifications.subscribeToTask(signalWait.id)) taskMessages.push(message);
      })();
      const executionMessages: ExecutionMessage[] = [];
      const executionStream = (async () => {
        for await (const message of notifications.subscribeToExecution(id)) executionMessages.push(message);
      })();
      await waitFor(() => notifications.channelCount >= 2, { message: 'both streams to listen' });
      await senpuki.cancel(id);
      await Promise.all([taskStream, executionStream]);
      assert.deepEqual(taskMessages.at(-1), { task_id: signalWait.id, state: 'failed' });
      assert.equal((await senpuki.getTask(signalWait.id)).state, 'cancelled', 'the row has the detail');
      assert.deepEqual(executionMessages.at(-1), { execution_id: id, state: 'cancelled' });
      await worker.stop();
    } finally {
      await senpuki.close();
    }
  });

  it('a backend whose subscribeToTask throws costs push, not the workflow: waits poll', async () => {
    const inner = new MemoryBackend();
    const store = await Store.embedded({ dataDir: 'memory://' });
    const throwing = specOnlyBackend(inner, {
      subscribeToTask: () => {
        throw new Error('subscriptions are broken today');
      },
    });
    const senpuki = new Senpuki({ store, notifications: throwing, pollMinIntervalMs: 20 });
    try {
      const leaf = senpuki.durable('leaf', async (_ctx, n: number) => n * 2);
      senpuki.durable('parent', async (ctx, n: number) => ctx.call(leaf, n));
      const worker = await senpuki.serve();
      assert.equal(await senpuki.waitFor(await senpuki.dispatch('parent', [21]), { timeoutMs: 10_000 }), 42);
      await worker.stop();
    } finally {
      await senpuki.close();
      await inner.close();
    }
  });

  it('closing an engine whose backend has only the spec\'s five methods (no close) closes its store', async () => {
    const inner = new MemoryBackend();
    const store = await Store.embedded({ dataDir: 'memory://' });
    const senpuki = new Senpuki({ store, notifications: specOnlyBackend(inner) });
    senpuki.durable('noop', async () => null);
    await senpuki.dispatch('noop', []);
    await senpuki.close();
    await assert.rejects(store.db.query('SELECT 1'), 'the store is closed');
    await inner.close();
  });
});
