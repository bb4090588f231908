import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeOnEachStore } from './helpers/engine.js';
import { waitFor } from './helpers/conditions.js';

await describeOnEachStore('durable sleep', (engine) => {
  it('resumes a sleep on another worker after a handoff and waits only for what is left', async () => {
    const { senpuki } = engine;
    const sleepMs = 2000;
    let runs = 0;
    const napper = senpuki.durable('napper', async (ctx) => {
      runs++;
      await ctx.sleep(sleepMs);
      return 'rested';
    });
    const one = await senpuki.serve();
    const id = await senpuki.dispatch(napper, []);
    const sleepTask = await waitFor(async () => (await senpuki.listTasks(id)).find((task) => task.kind === 'sleep'), { message: 'the sleep to be scheduled' });
    assert.equal(sleepTask.scheduledFor.getTime() - sleepTask.createdAt.getTime(), sleepMs, 'due time set once, from the database clock');
    // Stop half way through (by the database clock), hand the orchestrator over to a new worker.
    await waitFor(async () => (await senpuki.store.msUntil(sleepTask.scheduledFor)) < sleepMs / 2, { message: 'half of the sleep to pass' });
    await one.stop({ drainTimeoutMs: 5000 });
    assert.equal((await senpuki.getTask((await senpuki.stateOf(id)).rootTaskId)).state, 'pending', 'handed back');
    const two = await senpuki.serve();
    try {
      assert.equal(await senpuki.waitFor(id, { timeoutMs: 10_000 }), 'rested');
    } finally {
      await two.stop();
    }
    const execution = await senpuki.stateOf(id);
    const elapsedMs = execution.finishedAt!.getTime() - execution.startedAt!.getTime();
    assert.ok(elapsedMs >= sleepMs, `slept ${elapsedMs} ms, at least the ${sleepMs} asked for`);
    assert.ok(elapsedMs < sleepMs * 1.4, `slept ${elapsedMs} ms in all: the resumed run waited only for the rest, not ${sleepMs} ms more`);
    assert.equal(runs, 2, 'the orchestrator was replayed once');
    const sleeps = (await senpuki.listTasks(id)).filter((task) => task.kind === 'sleep');
    assert.deepEqual(sleeps.map((task) => [task.id, task.state]), [[sleepTask.id, 'completed']], 'the replay found its sleep row');
  });

  it('completes a workflow with sleeps and children on a worker that serves only some tags', async () => {
    const { senpuki } = engine;
    const untaggedStep = senpuki.durable('untaggedStep', async (_ctx, n: number) => n * 2);
    const taggedFlow = senpuki.durable('taggedFlow', async (ctx) => {
      await ctx.sleep('20ms');
      const doubled = await ctx.call(untaggedStep, 21);
      await ctx.sleep(10);
      return doubled;
    });
    const gpuOnly = await senpuki.serve({ tags: ['gpu'], concurrency: 1 });
    try {
      const id = await senpuki.dispatch(taggedFlow, [], { tags: ['gpu'] });
      assert.equal(await senpuki.waitFor(id, { timeoutMs: 10_000 }), 42);
      const tasks = await senpuki.listTasks(id);
      assert.deepEqual(tasks.map((task) => task.kind), ['function', 'sleep', 'function', 'sleep']);
      assert.deepEqual(tasks.find((task) => task.functionName === 'untaggedStep')?.tags, ['gpu'], 'an untagged child inherits its caller\'s tags');
      const other = await senpuki.dispatch(taggedFlow, [], { tags: ['cpu'] });
      await assert.rejects(senpuki.waitFor(other, { timeoutMs: 200 }), /did not finish/, 'tasks of other tags are left alone');
      await senpuki.cancel(other);
    } finally {
      await gpuOnly.stop();
    }
  });

  it('fails a function that asks for a sleep that is not a duration, saying what to pass', async () => {
    const { senpuki } = engine;
    const badNap = senpuki.durable('badNap', async (ctx) => ctx.sleep('a while'));
    const worker = await senpuki.serve();
    try {
      await assert.rejects(
        senpuki.waitFor(await senpuki.dispatch(badNap, []), { timeoutMs: 10_000 }),
        /ctx\.sleep\(duration\) must be a number of milliseconds or a string like "500ms"/,
      );
    } finally {
      await worker.stop();
    }
  });
});
