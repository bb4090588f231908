import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ExecutionRecord } from '../server/engine/types.js';
import { describeOnEachStore } from './helpers/engine.js';

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

await describeOnEachStore('progress, counters and custom state', (engine) => {
  it('shows progress, counters and custom state on the execution, announced to whoever watches it', async () => {
    const { senpuki } = engine;
    const mayFinish = gate();
    let reportedAt = 0;
    let seenAfterMs = Number.POSITIVE_INFINITY;
    const importer = senpuki.durable('importer', async (ctx) => {
      ctx.progress(1, 3, 'reading');
      ctx.increment('rows', 2);
      ctx.setState({ phase: 'read' });
      reportedAt = Date.now();
      await mayFinish.promise;
      ctx.progress(3, 3, 'done');
      ctx.increment('rows');
      ctx.setState({ phase: 'written' });
      return 'imported';
    });
    const worker = await senpuki.serve();
    const id = await senpuki.dispatch(importer, []);
    const seen: ExecutionRecord[] = [];
    try {
      for await (const execution of senpuki.feed.watchExecution(id, { signal: AbortSignal.timeout(10_000) })) {
        seen.push(execution);
        // Seen well within the feed's 5 s safety-net poll: the writes were announced.
        if ((execution.customState as { phase?: string } | undefined)?.phase === 'read' && !Number.isFinite(seenAfterMs)) {
          seenAfterMs = Date.now() - reportedAt;
          mayFinish.open();
        }
      }
    } finally {
      await worker.stop();
    }
    assert.ok(seenAfterMs < 1000, `the watcher saw the report ${seenAfterMs} ms after it was made: announced, not polled`);
    const midway = seen.find((execution) => (execution.customState as { phase?: string } | undefined)?.phase === 'read')!;
    assert.deepEqual(midway.progress, { done: 1, total: 3, message: 'reading' });
    assert.deepEqual(midway.counters, { rows: 2 });
    assert.deepEqual(midway.customState, { phase: 'read' });
    const last = seen.at(-1)!;
    assert.equal(last.state, 'completed');
    assert.deepEqual([last.progress, last.counters, last.customState], [{ done: 3, total: 3, message: 'done' }, { rows: 3 }, { phase: 'written' }]);
    assert.ok(seen.every((execution, i) => i === 0 || execution.version > seen[i - 1]!.version), 'each update bumped the version');
  });

  it('coalesces a tight loop of reports into a few writes and keeps the last values', async () => {
    const { senpuki } = engine;
    const loop = senpuki.durable('tightLoop', async (ctx, count: number) => {
      for (let i = 1; i <= count; i++) {
        ctx.progress(i, count);
        ctx.increment('seen');
        if (i % 1000 === 0) {
          ctx.setState({ last: i });
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      return count;
    });
    const worker = await senpuki.serve();
    try {
      const id = await senpuki.dispatch(loop, [20_000]);
      assert.equal(await senpuki.waitFor(id, { timeoutMs: 20_000 }), 20_000);
      const execution = await senpuki.stateOf(id);
      assert.deepEqual(execution.progress, { done: 20_000, total: 20_000 });
      assert.deepEqual(execution.counters, { seen: 20_000 });
      assert.deepEqual(execution.customState, { last: 20_000 });
      assert.ok(execution.version < 60, `60,000 reports took ${execution.version} versions, not one write each`);
    } finally {
      await worker.stop();
    }
  });

  it('adds up counter increments from many tasks writing at once', async () => {
    const { senpuki } = engine;
    const part = senpuki.durable('countingPart', async (ctx, n: number) => {
      for (let i = 0; i < 5; i++) ctx.increment('parts', 1);
      ctx.increment('weight', n / 2);
      return n;
    });
    const whole = senpuki.durable('countingWhole', async (ctx) => (await ctx.map(part, Array.from({ length: 20 }, (_, i) => i))).length);
    const worker = await senpuki.serve({ concurrency: 8 });
    try {
      const id = await senpuki.dispatch(whole, []);
      assert.equal(await senpuki.waitFor(id, { timeoutMs: 20_000 }), 20);
      assert.deepEqual((await senpuki.stateOf(id)).counters, { parts: 100, weight: 95 });
    } finally {
      await worker.stop();
    }
  });

  it('rejects reports that cannot be stored, saying what to pass', async () => {
    const { senpuki } = engine;
    const attempts: string[] = [];
    const sloppy = senpuki.durable('sloppyReporter', async (ctx) => {
      for (const report of [
        () => ctx.progress(Number.NaN, 10),
        () => ctx.increment('', 1),
        () => ctx.increment('x', Number.POSITIVE_INFINITY),
        () => ctx.setState({ when: new Date() } as never),
        () => ctx.setState('x'.repeat(70 * 1024)),
      ]) {
        try {
          report();
        } catch (error) {
          attempts.push((error as Error).message);
        }
      }
      return attempts.length;
    });
    const worker = await senpuki.serve();
    try {
      assert.equal(await senpuki.waitFor(await senpuki.dispatch(sloppy, []), { timeoutMs: 10_000 }), 5);
      assert.match(attempts[0]!, /ctx\.progress\(done, total\): both must be finite numbers/);
      assert.match(attempts[1]!, /ctx\.increment\(counter\) must be a non-empty string/);
      assert.match(attempts[2]!, /by must be a finite number/);
      assert.match(attempts[3]!, /is a Date; pass date\.toISOString\(\) instead/);
      assert.match(attempts[4]!, /the limit is 65536/);
    } finally {
      await worker.stop();
    }
  });
});
