import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ExecutionError } from '../server/errors.js';
import type { Store } from '../server/store/store.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { openPostgresTestStore, openTestStore, postgresReachable, storeKinds, type TestStore } from './helpers/stores.js';

async function dispatchPending(store: Store, count: number, queue: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { execution } = await store.createExecution({
      id: randomUUID(), rootTaskId: randomUUID(), functionName: 'f', args: [i], queue, tags: [], priority: 0, delayMs: 0, maxAttempts: 1,
    });
    ids.push(execution.id);
  }
  return ids;
}

const claim = (store: Store, workerId: string, queue: string, limit: number) =>
  store.claimTasks({ workerId, queues: [queue], functionNames: ['f'], limit, leaseMs: 60_000 });

for (const kind of await storeKinds()) {
  describe(`settling outcomes in batches (${kind})`, () => {
    let testStore: TestStore;
    before(async () => {
      testStore = await openTestStore(kind);
    });
    after(() => testStore.dispose());

    it('completes many tasks and their executions in one write, each with the versions a single write gives', async () => {
      const { store } = testStore;
      await dispatchPending(store, 3, 'batch');
      const claimed = await claim(store, 'w1', 'batch', 3);
      assert.equal(claimed.length, 3);
      assert.ok(claimed.every((task) => task.executionStarted && task.version === 2));
      const results = await store.settleTasks(
        'w1',
        claimed.map((task, i) => ({ taskId: task.id, executionId: task.executionId, outcome: { kind: 'completed' as const, result: i === 0 ? null : { n: i } } })),
      );
      for (const [i, task] of claimed.entries()) {
        const result = results[i]!;
        assert.equal(result.status, 'fulfilled');
        assert.deepEqual(result.status === 'fulfilled' && result.value, {
          tasks: [{ id: task.id, state: 'completed', executionId: task.executionId }],
          executions: [{ id: task.executionId, state: 'completed' }],
          wakeQueues: [],
        });
        const execution = (await store.getExecution(task.executionId))!;
        assert.equal(execution.state, 'completed');
        assert.equal(execution.version, 3, 'dispatch, start, completion');
        assert.deepEqual(execution.result ?? null, i === 0 ? null : { n: i });
        const row = (await store.getTask(task.id))!;
        assert.equal(row.state, 'completed');
        assert.equal(row.version, 3);
        assert.equal(row.leaseOwner, undefined);
      }
    });

    it('writes nothing for a worker that lost the lease, and cancels the task of a cancelled execution', async () => {
      const { store } = testStore;
      await dispatchPending(store, 2, 'fenced');
      const [kept, cancelled] = await claim(store, 'w2', 'fenced', 2);
      const cancelling = await store.cancelExecution(cancelled!.executionId);
      assert.equal(cancelling?.state, 'cancelling', 'its task is running, so the cancel waits for it');
      const completed = { kind: 'completed' as const, result: 'late' };
      const [stranger, ...ours] = await store.settleTasks('someone-else', [{ taskId: kept!.id, executionId: kept!.executionId, outcome: completed }]).then(
        async (first) => [...first, ...(await store.settleTasks('w2', [kept!, cancelled!].map((task) => ({ taskId: task.id, executionId: task.executionId, outcome: completed }))))],
      );
      assert.deepEqual(stranger, { status: 'fulfilled', value: undefined }, 'fenced off');
      assert.equal(ours[0]!.status === 'fulfilled' && ours[0]!.value?.executions[0]?.state, 'completed');
      assert.deepEqual(ours[1]!.status === 'fulfilled' && ours[1]!.value, {
        tasks: [{ id: cancelled!.id, state: 'cancelled', executionId: cancelled!.executionId }],
        executions: [{ id: cancelled!.executionId, state: 'cancelled' }],
        wakeQueues: [],
      });
      const execution = (await store.getExecution(cancelled!.executionId))!;
      assert.equal(execution.state, 'cancelled', 'terminal is final: the late result did not complete it');
      assert.equal(execution.result, undefined);
    });

    it('leaves the execution running when a child completes, and cancels idle children when the root completes', async () => {
      const { store } = testStore;
      await dispatchPending(store, 1, 'tree');
      const [root] = await claim(store, 'w3', 'tree', 1);
      const child = (key: number) => ({
        id: randomUUID(), callKey: `${root!.id}:${key}`, kind: 'function' as const, functionName: 'f', args: [], queue: 'tree-children',
        tags: [], priority: 0, maxAttempts: 1, delayMs: key === 1 ? 0 : 3_600_000,
      });
      const scheduled = await store.scheduleChildren(root!.id, 'w3', [child(1), child(2)]);
      assert.ok(scheduled.ok);
      const [running] = await store.claimTasks({ workerId: 'w3', queues: ['tree-children'], functionNames: ['f'], limit: 5, leaseMs: 60_000 });
      assert.equal(running?.callKey, `${root!.id}:1`, 'the delayed child is not due');
      const [childDone] = await store.settleTasks('w3', [{ taskId: running!.id, executionId: running!.executionId, outcome: { kind: 'completed', result: 1 } }]);
      assert.deepEqual(childDone!.status === 'fulfilled' && childDone!.value?.executions, [], 'a child does not finish the execution');
      const [rootDone] = await store.settleTasks('w3', [{ taskId: root!.id, executionId: root!.executionId, outcome: { kind: 'completed', result: 'done' } }]);
      const idle = scheduled.ok ? scheduled.tasks[1]! : undefined;
      assert.deepEqual(rootDone!.status === 'fulfilled' && rootDone!.value, {
        tasks: [
          { id: root!.id, state: 'completed', executionId: root!.executionId },
          { id: idle!.id, state: 'cancelled', executionId: root!.executionId },
        ],
        executions: [{ id: root!.executionId, state: 'completed' }],
        wakeQueues: [],
      });
    });

    it('writes other outcomes as single writes in the same call', async () => {
      const { store } = testStore;
      await dispatchPending(store, 2, 'mixed');
      const [a, b] = await claim(store, 'w4', 'mixed', 2);
      const results = await store.settleTasks('w4', [
        { taskId: a!.id, executionId: a!.executionId, outcome: { kind: 'failed', error: { name: 'Error', message: 'no' } } },
        { taskId: b!.id, executionId: b!.executionId, outcome: { kind: 'completed', result: 'yes' } },
      ]);
      assert.equal((await store.getExecution(a!.executionId))!.state, 'failed');
      assert.equal((await store.getExecution(b!.executionId))!.state, 'completed');
      assert.equal(await store.countDeadLetters({ executionId: a!.executionId }), 1, 'the failure went to the dead letters');
      assert.ok(results.every((result) => result.status === 'fulfilled' && result.value));
    });
  });
}

describe('batched settles racing cancels (postgres)', { skip: !(await postgresReachable()) && 'Postgres is not reachable' }, () => {
  let testStore: TestStore;
  before(async () => {
    testStore = await openPostgresTestStore();
  });
  after(() => testStore.dispose());

  it('never deadlock, and every execution ends completed or cancelled, never both', async () => {
    const { store } = testStore;
    const failures: unknown[] = [];
    for (let round = 0; round < 10; round++) {
      const ids = await dispatchPending(store, 20, 'race');
      const claimed = (await Promise.all(Array.from({ length: 4 }, (_, i) => claim(store, `w${i}`, 'race', 5)))).flat();
      // Each worker settles its tasks in reverse id order, while every execution is being cancelled.
      const byWorker = new Map<string, typeof claimed>();
      for (const task of claimed) byWorker.set(task.leaseOwner!, [...(byWorker.get(task.leaseOwner!) ?? []), task]);
      const operations = [
        ...[...byWorker].map(([workerId, tasks]) =>
          store.settleTasks(workerId, tasks.reverse().map((task) => ({ taskId: task.id, executionId: task.executionId, outcome: { kind: 'completed' as const, result: 1 } }))),
        ),
        ...ids.map((id) => store.cancelExecution(id)),
      ];
      for (const result of await Promise.allSettled(operations)) if (result.status === 'rejected') failures.push(result.reason);
      const executions = await store.getExecutions(ids);
      for (const execution of executions) {
        assert.ok(['completed', 'cancelled'].includes(execution.state), `${execution.id} ended ${execution.state}`);
        if (execution.state === 'cancelled') assert.equal(execution.result, undefined);
      }
    }
    assert.deepEqual(failures.map(String), []);
  });
});

for (const kind of await storeKinds()) {
  describe(`a worker's batched outcomes (${kind})`, () => {
    let engine: TestEngine;
    before(async () => {
      engine = await openEngine(kind);
    });
    after(() => engine.close());

    it('keeps a result the store refuses from failing the tasks written in the same batch', async () => {
      const { senpuki } = engine;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let arrived = 0;
      senpuki.durable('together', async (_ctx, value: string) => {
        arrived++;
        await gate; // Both return in the same turn, so their outcomes go out as one batch.
        return value === 'bad' ? 'nul \u0000 inside' : value; // A string jsonb cannot hold.
      }, { queue: 'together' });
      const worker = await senpuki.serve({ concurrency: 2, queues: ['together'] });
      try {
        const good = await senpuki.dispatch('together', ['fine']);
        const bad = await senpuki.dispatch('together', ['bad']);
        await waitFor(() => arrived === 2, { message: 'both running' });
        release();
        assert.equal(await senpuki.waitFor(good, { timeoutMs: 10_000 }), 'fine');
        await assert.rejects(senpuki.waitFor(bad, { timeoutMs: 10_000 }), (error: unknown) => error instanceof ExecutionError && error.state === 'failed');
      } finally {
        await worker.stop();
      }
    });
  });
}
