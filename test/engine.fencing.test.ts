import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ExecutionError, TaskAbortedError, WaitTimeoutError } from '../server/errors.js';
import { describeOnEachStore } from './helpers/engine.js';
import { waitFor } from './helpers/conditions.js';

/** A promise with its resolve function, to hold a task at a known point. */
function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

await describeOnEachStore('leases, cancellation and timeouts', (engine) => {
  it('refuses the outcome of a worker whose lease expired and was taken over', async () => {
    const { senpuki } = engine;
    const { store } = senpuki;
    senpuki.durable('leased', async () => 'unused');
    const id = await senpuki.dispatch('leased', []);
    const claim = (workerId: string, leaseMs: number) =>
      store.claimTasks({ workerId, queues: ['default'], functionNames: ['leased'], limit: 1, leaseMs });
    const [first] = await claim('worker-a', 1);
    assert.ok(first);
    await waitFor(async () => (await store.reapExpiredLeases()).tasks.some((task) => task.id === first.id), { message: 'the expired lease to be reaped' });
    const [second] = await claim('worker-b', 60_000);
    assert.equal(second?.id, first.id);
    assert.equal(await store.settleTask(first.id, id, 'worker-a', { kind: 'completed', result: 'stale' }), undefined);
    assert.ok(await store.settleTask(first.id, id, 'worker-b', { kind: 'completed', result: 'fresh' }));
    assert.equal(await senpuki.waitFor(id), 'fresh');
    assert.equal(await store.settleTask(first.id, id, 'worker-b', { kind: 'completed', result: 'twice' }), undefined);
    assert.equal((await senpuki.stateOf(id)).result, 'fresh');
  });

  it('keeps a cancelled execution cancelled when its running task completes afterwards', async () => {
    const { senpuki } = engine;
    const started = gate();
    const release = gate();
    const stubborn = senpuki.durable('stubborn', async () => {
      started.open();
      await release.promise; // Ignores ctx.signal on purpose.
      return 'finished anyway';
    });
    const worker = await senpuki.serve();
    try {
      const id = await senpuki.dispatch(stubborn, []);
      await started.promise;
      assert.equal(await senpuki.cancel(id), 'cancelling');
      release.open();
      await assert.rejects(senpuki.waitFor(id, { timeoutMs: 10_000 }), (error: unknown) => {
        assert.ok(error instanceof ExecutionError);
        assert.equal(error.state, 'cancelled');
        assert.equal(error.code, 'EXECUTION_CANCELLED');
        return true;
      });
      const execution = await senpuki.stateOf(id);
      assert.equal(execution.result, undefined);
      assert.equal((await senpuki.getTask(execution.rootTaskId)).state, 'cancelled');
      assert.equal(await senpuki.cancel(id), 'cancelled', 'cancelling again changes nothing');
    } finally {
      await worker.stop();
    }
  });

  it('aborts ctx.signal of the running tasks and cancels pending children when an execution is cancelled', async () => {
    const { senpuki } = engine;
    const childStarted = gate();
    const reasons: unknown[] = [];
    const waitForAbort = (signal: AbortSignal) =>
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    const slowChild = senpuki.durable('slowChild', async (ctx) => {
      childStarted.open();
      await waitForAbort(ctx.signal).catch((error) => {
        reasons.push(error);
        throw error;
      });
    });
    const parent = senpuki.durable('cancelledParent', async (ctx) => {
      await Promise.all([ctx.call(slowChild), ctx.sleep('1h')]);
    });
    const worker = await senpuki.serve({ concurrency: 1 });
    try {
      const id = await senpuki.dispatch(parent, []);
      await childStarted.promise;
      await senpuki.cancel(id);
      await assert.rejects(senpuki.waitFor(id, { timeoutMs: 10_000 }), /cancelled/);
      assert.ok(reasons[0] instanceof TaskAbortedError);
      assert.equal((reasons[0] as TaskAbortedError).cause_, 'cancelled');
      const states = (await senpuki.listTasks(id)).map((task) => `${task.kind}:${task.state}`);
      assert.deepEqual(states, ['function:cancelled', 'function:cancelled', 'sleep:cancelled']);
    } finally {
      await worker.stop();
    }
  });

  it('ends an execution past its maxDuration as timed_out with a stored error', async () => {
    const { senpuki } = engine;
    const aborted = gate<unknown>();
    const forever = senpuki.durable('forever', async (ctx) => {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
      aborted.open(ctx.signal.reason);
      return 'too late';
    });
    const worker = await senpuki.serve({ maintenanceIntervalMs: 50, leaseMs: 3000 });
    try {
      const id = await senpuki.dispatch(forever, [], { maxDuration: '300ms' });
      await assert.rejects(senpuki.waitFor(id, { timeoutMs: 10_000 }), (error: unknown) => {
        assert.ok(error instanceof ExecutionError);
        assert.equal(error.state, 'timed_out');
        assert.equal(error.code, 'EXECUTION_TIMED_OUT');
        assert.equal(error.cause_?.name, 'ExecutionTimeoutError');
        return true;
      });
      assert.equal(((await aborted.promise) as TaskAbortedError).cause_, 'timed_out');
      const execution = await senpuki.stateOf(id);
      await waitFor(async () => (await senpuki.getTask(execution.rootTaskId)).state === 'cancelled', { message: 'the late task to be cancelled' });
      assert.equal((await senpuki.stateOf(id)).state, 'timed_out');
    } finally {
      await worker.stop();
    }
  });

  it('rejects waitFor with a WaitTimeoutError when the wait runs out, leaving the execution alone', async () => {
    const { senpuki } = engine;
    senpuki.durable('neverRuns', async () => 1);
    const id = await senpuki.dispatch('neverRuns', [], { queue: 'nobody-serves-this' });
    await assert.rejects(senpuki.waitFor(id, { timeoutMs: 150 }), WaitTimeoutError);
    assert.equal((await senpuki.stateOf(id)).state, 'pending');
  });

  it('hands back a waiting orchestrator on stop, and the next worker resumes it without re-running finished children', async () => {
    const { senpuki } = engine;
    const runs = { first: 0, second: 0, parent: 0 };
    const secondMayFinish = gate();
    const first = senpuki.durable('handoffFirst', async () => ++runs.first);
    const second = senpuki.durable('handoffSecond', async () => {
      runs.second++;
      await secondMayFinish.promise;
      return 'second';
    });
    const parent = senpuki.durable('handoffParent', async (ctx) => {
      runs.parent++;
      const a = await ctx.call(first);
      const b = await ctx.call(second);
      return [a, b];
    });
    const one = await senpuki.serve({ queues: ['default'] });
    const id = await senpuki.dispatch(parent, []);
    await waitFor(() => runs.second === 1, { message: 'the second child to start' });
    const stopping = one.stop({ drainTimeoutMs: 5000 });
    await waitFor(async () => (await senpuki.getTask((await senpuki.stateOf(id)).rootTaskId)).state === 'pending', { message: 'the parent to be handed back' });
    secondMayFinish.open();
    await stopping;
    const two = await senpuki.serve();
    try {
      assert.deepEqual(await senpuki.waitFor(id, { timeoutMs: 10_000 }), [1, 'second']);
      assert.deepEqual(runs, { first: 1, second: 1, parent: 2 });
    } finally {
      await two.stop();
    }
  });
});
