import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { ConflictError, ExecutionError, NonRetryableError, NotFoundError } from '../server/errors.js';
import { describeOnEachStore } from './helpers/engine.js';
import { waitFor } from './helpers/conditions.js';

await describeOnEachStore('dead letters', (engine) => {
  it('replays a failed child so its failed execution continues, without re-running completed steps', async () => {
    const { senpuki } = engine;
    const runs = { first: 0, broken: 0, last: 0, parent: 0 };
    let fixed = false;
    const first = senpuki.durable('replayFirst', async () => ++runs.first);
    const broken = senpuki.durable('replayBroken', async (_ctx, n: number) => {
      runs.broken++;
      if (!fixed) throw new NonRetryableError('upstream rejected the request');
      return n * 10;
    });
    const last = senpuki.durable('replayLast', async () => ++runs.last);
    const parent = senpuki.durable('replayParent', async (ctx) => {
      runs.parent++;
      const a = await ctx.call(first);
      const b = await ctx.call(broken, 4);
      const c = await ctx.call(last);
      return [a, b, c];
    });
    const worker = await senpuki.serve();
    try {
      const id = await senpuki.dispatch(parent, []);
      await assert.rejects(senpuki.waitFor(id, { timeoutMs: 10_000 }), ExecutionError);
      assert.equal(await senpuki.countDeadLetters({ executionId: id }), 2, 'the child and the parent it failed');
      const [letter] = await senpuki.listDeadLetters({ executionId: id, functionName: 'replayBroken' });
      assert.equal(letter!.error.message, 'upstream rejected the request');
      assert.deepEqual(letter!.args, [4]);

      fixed = true;
      assert.equal(await senpuki.replayDeadLetter(letter!.id), id);
      assert.deepEqual(await senpuki.waitFor(id, { timeoutMs: 10_000 }), [1, 40, 1]);
      assert.deepEqual(runs, { first: 1, broken: 2, last: 1, parent: 2 });
      const execution = await senpuki.stateOf(id);
      assert.equal(execution.state, 'completed');
      assert.equal(execution.error, undefined);
      assert.equal(await senpuki.countDeadLetters({ executionId: id }), 0, 'the replayed letters are gone');
      await assert.rejects(senpuki.replayDeadLetter(letter!.id), NotFoundError, 'a letter replays once');
    } finally {
      await worker.stop();
    }
  });

  it('replays a fan-out whose failure cancelled its other items, without re-running the completed ones', async () => {
    const { senpuki } = engine;
    const runs = new Map<number, number>();
    let fixed = false;
    let id = '';
    const itemState = async (n: number) => (await senpuki.listTasks(id)).find((t) => t.functionName === 'fanItem' && t.args[0] === n)?.state;
    const item = senpuki.durable('fanItem', async (ctx, n: number) => {
      runs.set(n, (runs.get(n) ?? 0) + 1);
      if (fixed || n < 3) return n;
      if (n === 3) {
        await waitFor(async () => (await itemState(1)) === 'completed' && (await itemState(2)) === 'completed', { message: 'items 1 and 2' });
        throw new NonRetryableError('item 3 is bad');
      }
      // Items 4-6 are still running when the execution fails: they are aborted and cancelled.
      return new Promise<number>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
    });
    const fan = senpuki.durable('fanOutReplay', async (ctx) => ctx.map(item, [1, 2, 3, 4, 5, 6]));
    const worker = await senpuki.serve({ concurrency: 6 });
    try {
      id = await senpuki.dispatch(fan, []);
      await assert.rejects(senpuki.waitFor(id, { timeoutMs: 10_000 }), /item 3 is bad/);
      await waitFor(async () => (await senpuki.listTasks(id)).every((t) => t.state !== 'running'), { message: 'the aborted items to stop' });
      assert.deepEqual(await Promise.all([4, 5, 6].map(itemState)), ['cancelled', 'cancelled', 'cancelled']);
      const [letter] = await senpuki.listDeadLetters({ executionId: id, functionName: 'fanItem' });
      fixed = true;
      await senpuki.replayDeadLetter(letter!.id);
      assert.deepEqual(await senpuki.waitFor(id, { timeoutMs: 10_000 }), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => runs.get(n)), [1, 1, 2, 2, 2, 2], 'completed items ran once; the failed and cancelled ones ran again');
    } finally {
      await worker.stop();
    }
  });

  it('replays an execution that failed on a signal timeout: the wait waits again and takes the signal', async () => {
    const { senpuki } = engine;
    const approval = senpuki.durable('needsApproval', async (ctx) => `approved by ${await ctx.waitForSignal<string>('approved', { timeoutMs: 500 })}`);
    const worker = await senpuki.serve();
    try {
      const id = await senpuki.dispatch(approval, []);
      await assert.rejects(senpuki.waitFor(id, { timeoutMs: 10_000 }), /SignalTimeoutError: No signal "approved" arrived within 500 ms/);
      await assert.rejects(senpuki.sendSignal(id, 'approved', 'too late'), ConflictError);
      const [letter] = await senpuki.listDeadLetters({ executionId: id });
      await senpuki.replayDeadLetter(letter!.id);
      await senpuki.sendSignal(id, 'approved', 'ana');
      assert.equal(await senpuki.waitFor(id, { timeoutMs: 10_000 }), 'approved by ana');
      assert.equal((await senpuki.listTasks(id)).filter((task) => task.kind === 'signal').length, 1, 'the same wait, revived');
    } finally {
      await worker.stop();
    }
  });

  it('lists dead letters in pages, counts and discards them', async () => {
    const { senpuki } = engine;
    const doomed = senpuki.durable('doomed', async (_ctx, n: number) => {
      throw new Error(`doomed ${n}`);
    });
    const worker = await senpuki.serve();
    try {
      const ids: string[] = [];
      for (let n = 0; n < 5; n++) {
        const id = await senpuki.dispatch(doomed, [n]);
        await assert.rejects(senpuki.waitFor(id, { timeoutMs: 10_000 }));
        ids.push(id);
      }
      assert.equal(await senpuki.countDeadLetters({ functionName: 'doomed' }), 5);
      const pages = [
        await senpuki.listDeadLetters({ functionName: 'doomed', limit: 2 }),
        await senpuki.listDeadLetters({ functionName: 'doomed', limit: 2, offset: 2 }),
        await senpuki.listDeadLetters({ functionName: 'doomed', limit: 2, offset: 4 }),
      ];
      assert.deepEqual(pages.map((page) => page.length), [2, 2, 1]);
      const listed = pages.flat();
      assert.deepEqual(new Set(listed.map((letter) => letter.executionId)), new Set(ids));
      assert.deepEqual(listed.map((letter) => letter.error.message), [4, 3, 2, 1, 0].map((n) => `doomed ${n}`), 'newest first');
      await senpuki.discardDeadLetter(listed[0]!.id);
      assert.equal(await senpuki.countDeadLetters({ functionName: 'doomed' }), 4);
      await assert.rejects(senpuki.discardDeadLetter(listed[0]!.id), NotFoundError);
      await assert.rejects(senpuki.listDeadLetters({ limit: 0 }), /limit must be an integer from 1 to 1000/);
    } finally {
      await worker.stop();
    }
  });

  it('refuses to replay a letter whose execution did not fail, or that does not exist', async () => {
    const { senpuki } = engine;
    const fragile = senpuki.durable('fragileChild', async () => {
      throw new NonRetryableError('no');
    });
    const forgiving = senpuki.durable('forgivingParent', async (ctx) => {
      try {
        await ctx.call(fragile);
      } catch {
        return 'handled';
      }
    });
    const worker = await senpuki.serve();
    try {
      const id = await senpuki.dispatch(forgiving, []);
      assert.equal(await senpuki.waitFor(id, { timeoutMs: 10_000 }), 'handled');
      const [letter] = await senpuki.listDeadLetters({ executionId: id });
      await assert.rejects(senpuki.replayDeadLetter(letter!.id), (error: unknown) => {
        assert.ok(error instanceof ConflictError);
        assert.match(error.message, /execution that is completed; only a failed execution can be replayed/);
        return true;
      });
      assert.equal((await senpuki.stateOf(id)).state, 'completed', 'terminal stays terminal');
      await assert.rejects(senpuki.replayDeadLetter(randomUUID()), NotFoundError);
    } finally {
      await worker.stop();
    }
  });
});
