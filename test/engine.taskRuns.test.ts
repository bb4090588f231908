import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NonRetryableError } from '../server/errors.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine } from './helpers/engine.js';
import { storeKinds } from './helpers/stores.js';

for (const kind of await storeKinds()) {
  describe(`a task's runs (${kind})`, () => {
    it('records each run with its attempt, times, worker, outcome and error: retried, then completed', async () => {
      const engine = await openEngine(kind);
      try {
        const { senpuki } = engine;
        let calls = 0;
        senpuki.durable('twice', async () => {
          if (++calls === 1) throw new TypeError('not yet');
          return 'done';
        }, { retry: { maxAttempts: 3, initialDelayMs: 50 } });
        const worker = await senpuki.serve();
        const id = await senpuki.dispatch('twice', []);
        assert.equal(await senpuki.waitFor(id, { timeoutMs: 10_000 }), 'done');
        await worker.stop();
        const [task] = await senpuki.listTasks(id);
        assert.deepEqual(task!.runs.map((run) => [run.attempt, run.outcome, run.error?.name, run.worker]), [
          [1, 'retried', 'TypeError', worker.id],
          [2, 'completed', undefined, worker.id],
        ]);
        const [first, second] = task!.runs;
        assert.equal(first!.error?.message, 'not yet');
        assert.ok(first!.startedAt! <= first!.finishedAt);
        assert.ok(second!.startedAt!.getTime() - first!.finishedAt.getTime() >= 40, 'the retry delay lies between the runs');
      } finally {
        await engine.close();
      }
    });

    it('records a failure for good, and runs lost with their worker', async () => {
      const engine = await openEngine(kind);
      try {
        const { senpuki } = engine;
        senpuki.durable('refuses', async () => {
          throw new NonRetryableError('no');
        });
        const worker = await senpuki.serve();
        const refused = await senpuki.dispatch('refuses', []);
        await assert.rejects(senpuki.waitFor(refused, { timeoutMs: 10_000 }));
        await worker.stop();
        assert.deepEqual((await senpuki.listTasks(refused))[0]!.runs.map((run) => [run.outcome, run.error?.message]), [['failed', 'no']]);

        senpuki.durable('orphan', async () => 'ok');
        const orphan = await senpuki.dispatch('orphan', []);
        const [claimed] = await senpuki.store.claimTasks({ workerId: 'ghost', queues: ['default'], functionNames: ['orphan'], limit: 1, leaseMs: 1 });
        assert.ok(claimed);
        await waitFor(async () => (await senpuki.store.reapExpiredLeases()).tasks.length > 0, { message: 'the lost lease to be taken back' });
        assert.deepEqual((await senpuki.listTasks(orphan))[0]!.runs.map((run) => [run.outcome, run.worker]), [['lost', 'ghost']]);
      } finally {
        await engine.close();
      }
    });
  });
}
