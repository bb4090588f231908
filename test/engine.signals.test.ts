import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { ConflictError, NotFoundError, SignalTimeoutError } from '../server/errors.js';
import type { NewChild } from '../server/store/store.js';
import { describeOnEachStore } from './helpers/engine.js';
import { waitFor } from './helpers/conditions.js';

/** A promise with its resolve function, to hold a task at a known point. */
function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

const pause = (maxMs: number) => new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * maxMs)));

await describeOnEachStore('signals', (engine) => {
  it('buffers a signal sent before the wait and delivers later ones in order, without holding a slot while waiting', async () => {
    const { senpuki } = engine;
    const approvals = senpuki.durable('approvals', async (ctx) => {
      const first = await ctx.waitForSignal<string>('approve');
      const second = await ctx.waitForSignal<{ by: string }>('approve');
      return [first, second];
    });
    const quick = senpuki.durable('quickWhileWaiting', async () => 'ran');
    const id = await senpuki.dispatch(approvals, []);
    const sent = await senpuki.sendSignal(id, 'approve', 'early');
    assert.equal(sent.deliveredTo, undefined, 'no wait yet: buffered');
    const worker = await senpuki.serve({ concurrency: 1 });
    try {
      await waitFor(async () => (await senpuki.listTasks(id)).some((t) => t.kind === 'signal' && t.state === 'waiting'), { message: 'the second wait to start' });
      assert.equal(await senpuki.waitFor(await senpuki.dispatch(quick, []), { timeoutMs: 10_000 }), 'ran', 'the waiting orchestrator left the only slot free');
      const late = await senpuki.sendSignal(id, 'approve', { by: 'ana' });
      assert.ok(late.deliveredTo, 'a waiting wait takes it at once');
      assert.deepEqual(await senpuki.waitFor(id, { timeoutMs: 10_000 }), ['early', { by: 'ana' }]);
      const waits = (await senpuki.listTasks(id)).filter((task) => task.kind === 'signal');
      assert.deepEqual(waits.map((t) => [t.functionName, t.state]), [['approve', 'completed'], ['approve', 'completed']]);
      assert.deepEqual(await senpuki.store.listBufferedSignals(id), []);
    } finally {
      await worker.stop();
    }
  });

  it('refuses a signal to an unknown execution or a finished one with an error that says why', async () => {
    const { senpuki } = engine;
    const done = senpuki.durable('doneBeforeSignal', async () => 1);
    const worker = await senpuki.serve();
    try {
      const id = await senpuki.dispatch(done, []);
      await senpuki.waitFor(id, { timeoutMs: 10_000 });
      await assert.rejects(senpuki.sendSignal(id, 'late', 1), (error: unknown) => {
        assert.ok(error instanceof ConflictError);
        assert.match(error.message, /is completed; signals can only be sent to pending or running executions/);
        return true;
      });
      await assert.rejects(senpuki.sendSignal(randomUUID(), 'x', 1), NotFoundError);
      await assert.rejects(senpuki.sendSignal(id, '', 1), /signal name must be a non-empty string/);
      await assert.rejects(senpuki.sendSignal('nope', 'x', 1), /execution id must be a UUID/);
    } finally {
      await worker.stop();
    }
  });

  it('throws a SignalTimeoutError in the function when no signal arrives in time; a later signal goes to the next wait', async () => {
    const { senpuki } = engine;
    const impatient = senpuki.durable('impatient', async (ctx) => {
      let first: unknown;
      try {
        first = await ctx.waitForSignal('reply', { timeoutMs: '150ms' });
      } catch (error) {
        assert.ok(error instanceof SignalTimeoutError);
        first = `${error.name}: ${error.message}`;
      }
      return [first, await ctx.waitForSignal('reply')];
    });
    const worker = await senpuki.serve();
    try {
      const id = await senpuki.dispatch(impatient, []);
      const waits = () => senpuki.listTasks(id).then((tasks) => tasks.filter((task) => task.kind === 'signal'));
      await waitFor(async () => (await waits()).length === 2, { message: 'the first wait to time out and the second to start' });
      const [timedOut] = await waits();
      assert.equal(timedOut!.state, 'failed');
      assert.equal(timedOut!.error?.name, 'SignalTimeoutError');
      await senpuki.sendSignal(id, 'reply', 'late');
      assert.deepEqual(await senpuki.waitFor(id, { timeoutMs: 10_000 }), ['SignalTimeoutError: No signal "reply" arrived within 150 ms', 'late']);
      assert.equal(await senpuki.countDeadLetters({ executionId: id }), 0, 'a timed-out wait is not a dead letter');
    } finally {
      await worker.stop();
    }
  });

  it('gives a replayed orchestrator the same payload from the same wait', async () => {
    const { senpuki } = engine;
    const runs = { parent: 0 };
    const childMayFinish = gate();
    let childStarted = false;
    const slowStep = senpuki.durable('slowStepBetweenSignals', async () => {
      childStarted = true;
      await childMayFinish.promise;
      return 'step';
    });
    const twoSignals = senpuki.durable('twoSignals', async (ctx) => {
      runs.parent++;
      const a = await ctx.waitForSignal('next');
      const step = await ctx.call(slowStep);
      const b = await ctx.waitForSignal('next');
      return [a, step, b];
    });
    const one = await senpuki.serve();
    const id = await senpuki.dispatch(twoSignals, []);
    await senpuki.sendSignal(id, 'next', 'first');
    await waitFor(() => childStarted, { message: 'the step between the waits to start' });
    const stopping = one.stop({ drainTimeoutMs: 5000 });
    await waitFor(async () => (await senpuki.getTask((await senpuki.stateOf(id)).rootTaskId)).state === 'pending', { message: 'the orchestrator to be handed back' });
    await senpuki.sendSignal(id, 'next', 'second');
    childMayFinish.open();
    await stopping;
    const two = await senpuki.serve();
    try {
      assert.deepEqual(await senpuki.waitFor(id, { timeoutMs: 10_000 }), ['first', 'step', 'second']);
      assert.equal(runs.parent, 2, 'the orchestrator was replayed');
      assert.equal((await senpuki.listTasks(id)).filter((task) => task.kind === 'signal').length, 2);
    } finally {
      await two.stop();
    }
  });

  it('pairs each send with exactly one wait, in order, however sends and wait starts interleave (200 rounds)', async () => {
    const { senpuki } = engine;
    const { store } = senpuki;
    senpuki.durable('signalRace', async () => null);
    const perRound = 4;
    for (let round = 0; round < 200; round++) {
      const { execution } = await store.createExecution({
        id: randomUUID(), rootTaskId: randomUUID(), functionName: 'signalRace', args: [], queue: `race-${round}`,
        tags: [], priority: 0, delayMs: 0, maxAttempts: 1,
      });
      const [parent] = await store.claimTasks({ workerId: 'racer', queues: [`race-${round}`], functionNames: ['signalRace'], limit: 1, leaseMs: 60_000 });
      assert.equal(parent?.id, execution.rootTaskId);
      const waitKeys: string[] = [];
      const waits = (async () => {
        for (let i = 0; i < perRound; i++) {
          await pause(3);
          const child: NewChild = {
            id: randomUUID(), callKey: `${parent.id}:${i}`, kind: 'signal', functionName: 'go', args: [null],
            queue: parent.queue, tags: [], priority: 0, maxAttempts: 1, delayMs: 0,
          };
          const outcome = await store.scheduleChildren(parent.id, 'racer', [child]);
          assert.ok(outcome.ok);
          waitKeys.push(outcome.tasks[0]!.id);
        }
      })();
      const sends = (async () => {
        for (let i = 0; i < perRound; i++) {
          await pause(3);
          await senpuki.sendSignal(execution.id, 'go', i);
        }
      })();
      await Promise.all([waits, sends]);
      const tasks = await store.getTasks(waitKeys);
      const byId = new Map(tasks.map((task) => [task.id, task]));
      assert.deepEqual(
        waitKeys.map((taskId) => [byId.get(taskId)!.state, byId.get(taskId)!.result]),
        Array.from({ length: perRound }, (_, i) => ['completed', i]),
        `round ${round}: every wait got exactly its signal, in order`,
      );
      assert.deepEqual(await store.listBufferedSignals(execution.id), [], `round ${round}: no signal left over`);
    }
  });

  it('delivers every randomly timed send to a looping workflow exactly once, in order', async () => {
    const { senpuki } = engine;
    const count = 5;
    const collector = senpuki.durable('signalCollector', async (ctx) => {
      const got: number[] = [];
      for (let i = 0; i < count; i++) got.push(await ctx.waitForSignal<number>('item'));
      return got;
    });
    const ids = await Promise.all(Array.from({ length: 40 }, () => senpuki.dispatch(collector, [])));
    const sending = ids.map(async (id) => {
      for (let i = 0; i < count; i++) {
        await pause(8);
        await senpuki.sendSignal(id, 'item', i);
      }
    });
    await pause(10); // Some sends land before any worker runs, some during the waits.
    const worker = await senpuki.serve({ concurrency: 4 });
    try {
      await Promise.all(sending);
      for (const id of ids) assert.deepEqual(await senpuki.waitFor(id, { timeoutMs: 20_000 }), [0, 1, 2, 3, 4]);
    } finally {
      await worker.stop();
    }
  });
});
