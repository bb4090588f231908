import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ExecutionState, TaskState } from '../server/domain/types.js';
import type { ExecutionMessage, NotificationBackend, TaskMessage } from '../server/notifications/backend.js';
import { MemoryBackend } from '../server/notifications/memoryBackend.js';
import { Senpuki } from '../server/engine/senpuki.js';
import { Store } from '../server/store/store.js';
import { ExecutionsFeed } from '../server/realtime/executionsFeed.js';
import { executionChannel } from '../server/notifications/channels.js';
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
      await waitFor(() => notifications.subscribedChannelCount === 1, { message: 'the channel to be subscribed' });
      const returned = await iterator.return!();
      assert.deepEqual(returned, { done: true, value: undefined });
      assert.deepEqual(await parked, { done: true, value: undefined }, 'the parked next() ends too');
      assert.equal(notifications.subscribedChannelCount, 0, 'the channel is unsubscribed');
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
      await waitFor(() => notifications.subscribedChannelCount >= 2, { message: 'both streams to listen' });
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

  it('an engine on a spec-only backend announces through its five methods, and waits are pushed by its streams', async () => {
    const inner = new MemoryBackend();
    const sent: string[] = [];
    const backend = specOnlyBackend(inner, {
      notifyTaskCompleted: (taskId) => (sent.push(`task ${taskId} completed`), inner.notifyTaskCompleted(taskId)),
      notifyTaskUpdated: (taskId, state) => (sent.push(`task ${taskId} ${state}`), inner.notifyTaskUpdated(taskId, state)),
      notifyExecutionUpdated: (executionId, state) => (sent.push(`execution ${executionId} ${state}`), inner.notifyExecutionUpdated(executionId, state)),
    });
    const store = await Store.embedded({ dataDir: 'memory://' });
    // Polling slower than the test's whole budget: only a pushed message can end the wait in time.
    const senpuki = new Senpuki({ store, notifications: backend, pollMinIntervalMs: 60_000, pollMaxIntervalMs: 60_000 });
    try {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      senpuki.durable('gated', async () => {
        await gate;
        return 'done';
      });
      await senpuki.serve({ concurrency: 1 });
      const id = await senpuki.dispatch('gated', []);
      await waitFor(async () => (await senpuki.stateOf(id)).state === 'running', { message: 'the execution to start' });
      // Waiting in an instance without the worker: a wait in the worker's own instance would
      // resolve from the completion itself, without a message.
      const watcher = new Senpuki({ store, notifications: backend, pollMinIntervalMs: 60_000, pollMaxIntervalMs: 60_000 });
      const snapshotReads = { count: 0 };
      const readExecution = watcher.feed.readExecution.bind(watcher.feed);
      watcher.feed.readExecution = (executionId) => (snapshotReads.count++, readExecution(executionId));
      const waiting = watcher.waitFor(id, { timeoutMs: 10_000 });
      // The wait has subscribed through subscribeToExecution and read the running row: from now on only a message ends it in time.
      await waitFor(() => snapshotReads.count > 0, { message: 'the wait to subscribe and read its snapshot' });
      release();
      assert.equal(await waiting, 'done');
      const [root] = await senpuki.listTasks(id);
      assert.ok(sent.includes(`task ${root!.id} completed`), `the task's completion went through notifyTaskCompleted: ${sent.join('; ')}`);
      assert.ok(sent.includes(`execution ${id} completed`), `the execution's went through notifyExecutionUpdated: ${sent.join('; ')}`);
      assert.ok(sent.every((line) => /^(task|execution) [0-9a-f-]{36} [a-z_]+$/.test(line)), 'only the spec\'s channels reach a spec-only backend');
    } finally {
      await senpuki.close();
      await inner.close();
    }
  });

  it('a list feed on a spec-only backend keeps polling at its fast rate, even once the backend has proved it delivers', async () => {
    const inner = new MemoryBackend();
    const store = await Store.embedded({ dataDir: 'memory://' });
    // A relaxed poll (60 s) would miss the test's budget: only the fast rate delivers in time.
    const senpuki = new Senpuki({ store, notifications: specOnlyBackend(inner), pollMinIntervalMs: 20, pollMaxIntervalMs: 60_000 });
    const stop = new AbortController();
    try {
      senpuki.durable('noop', async () => 'ok');
      await senpuki.serve({ concurrency: 1 });
      // The backend proves it delivers: a message reaches a listen through its subscribeToExecution.
      const probe = randomUUID();
      let heard = false;
      const unlisten = await senpuki.notifications.listen(executionChannel(probe), () => (heard = true));
      await waitFor(async () => (await inner.notifyExecutionUpdated(probe, 'running'), heard), { message: 'the probe message' });
      unlisten();
      assert.equal(senpuki.notifications.connected, true, 'the spec streams delivered');
      const feed = new ExecutionsFeed({ store, notifications: senpuki.notifications, pushReachesAllWriters: senpuki.pushReachesAllWriters, ...senpuki.pollOptions });
      const since = await feed.currentCursor();
      let reads = 0;
      const listChanges = store.listExecutionsChangedAfter.bind(store);
      store.listExecutionsChangedAfter = (...args) => (reads++, listChanges(...args));
      const changes = feed.watch({}, { since, signal: stop.signal })[Symbol.asyncIterator]();
      const first = changes.next();
      // Once its first read is done, what comes next can only be found by its polls.
      await waitFor(() => reads > 0, { message: 'the feed\'s first read' });
      const started = Date.now();
      const id = await senpuki.dispatch('noop', []);
      const { value } = await Promise.race([first, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no list event within 10 s')), 10_000))]);
      assert.equal(value?.id, id);
      assert.ok(Date.now() - started < 10_000);
      await changes.return?.(undefined);
    } finally {
      stop.abort();
      await senpuki.close();
      await inner.close();
    }
  });
});
