import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TaskAbortedError } from '../server/errors.js';
import { Senpuki } from '../server/engine/senpuki.js';
import { Store } from '../server/store/store.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { storeKinds } from './helpers/stores.js';
import { waitFor } from './helpers/conditions.js';

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

for (const kind of await storeKinds()) {
  describe(`worker lifecycle (${kind})`, () => {
    let engine: TestEngine;
    before(async () => {
      engine = await openEngine(kind);
    });
    after(() => engine.close());

    it('drains: claims nothing new, lets a running task finish within the timeout, then stops', async () => {
      const { senpuki } = engine;
      const started = gate();
      const mayFinish = gate();
      let abortedWhileRunning = true;
      const steady = senpuki.durable('steady', async (ctx) => {
        started.open();
        await mayFinish.promise;
        abortedWhileRunning = ctx.signal.aborted;
        return 'finished';
      });
      senpuki.durable('lateArrival', async () => 'late');
      const worker = await senpuki.serve();
      assert.equal(worker.state, 'ready');
      const id = await senpuki.dispatch(steady, []);
      await started.promise;
      const stopping = worker.stop({ drainTimeoutMs: 10_000 });
      assert.equal(worker.state, 'draining');
      const health = await senpuki.health();
      assert.equal(health.status, 'degraded', 'a draining worker is not ready for new work');
      assert.deepEqual(health.workers.map((w) => [w.state, w.running]), [['draining', 1]]);
      const late = await senpuki.dispatch('lateArrival', []);
      mayFinish.open();
      await stopping;
      assert.equal(worker.state, 'stopped');
      assert.equal(await senpuki.resultOf(id), 'finished');
      assert.equal(abortedWhileRunning, false, 'the task was not interrupted');
      assert.equal((await senpuki.stateOf(late)).state, 'pending', 'the draining worker took nothing new');
      await senpuki.cancel(late);
      await worker.stop(); // Stopping twice is safe.
    });

    it('hands back a task still running at the drain timeout, and another worker finishes it', async () => {
      const { senpuki } = engine;
      const reasons: unknown[] = [];
      const stubborn = senpuki.durable('outlivesDrain', async (ctx) => {
        if (reasons.length > 0) return 'finished on the next worker';
        return new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => {
            reasons.push(ctx.signal.reason);
            reject(ctx.signal.reason);
          }, { once: true }),
        );
      });
      const one = await senpuki.serve();
      const id = await senpuki.dispatch(stubborn, []);
      const root = (await senpuki.stateOf(id)).rootTaskId;
      await waitFor(async () => (await senpuki.getTask(root)).state === 'running', { message: 'the task to start' });
      const stopAt = Date.now();
      await one.stop({ drainTimeoutMs: 200 });
      const tookMs = Date.now() - stopAt;
      assert.ok(tookMs >= 190 && tookMs < 3000, `stop took ${tookMs} ms for a 200 ms drain timeout`);
      assert.ok(reasons[0] instanceof TaskAbortedError);
      assert.equal((reasons[0] as TaskAbortedError).cause_, 'shutdown');
      const handedBack = await senpuki.getTask(root);
      assert.deepEqual([handedBack.state, handedBack.attempt, handedBack.leaseOwner], ['pending', 1, undefined], 'released, not failed');
      const two = await senpuki.serve();
      try {
        assert.equal(await senpuki.waitFor(id, { timeoutMs: 10_000 }), 'finished on the next worker');
      } finally {
        await two.stop();
      }
    });

    it('reports health for probes: the store answers and every worker is ready', async () => {
      const { senpuki } = engine;
      const idle = await senpuki.health();
      assert.equal(idle.status, 'ok');
      assert.deepEqual(idle.workers, []);
      const worker = await senpuki.serve({ concurrency: 3 });
      try {
        const health = await senpuki.health();
        assert.equal(health.status, 'ok');
        assert.equal(health.store.ok, true);
        assert.ok(health.store.latencyMs >= 0);
        assert.deepEqual(health.workers.map((w) => [w.workerId, w.state, w.freeSlots]), [[worker.id, 'ready', 3]]);
      } finally {
        await worker.stop();
      }
      assert.deepEqual((await senpuki.health()).workers, [], 'a stopped worker is no longer reported');
    });
  });
}

describe('health without a database', () => {
  it('reports down, with the reason, when the store does not answer', async () => {
    const senpuki = new Senpuki({ store: Store.postgres('postgres://postgres@127.0.0.1:1/nowhere') });
    try {
      const health = await senpuki.health();
      assert.equal(health.status, 'down');
      assert.equal(health.store.ok, false);
      assert.match(health.store.error!, /ECONNREFUSED|connect/);
    } finally {
      await senpuki.close();
    }
  });
});
