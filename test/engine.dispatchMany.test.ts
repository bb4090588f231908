import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DispatchBatchError } from '../server/engine/dispatchInput.js';
import { ValidationError } from '../server/errors.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { storeKinds } from './helpers/stores.js';

for (const kind of await storeKinds()) {
  describe(`dispatchMany (${kind})`, () => {
    let engine: TestEngine;
    before(async () => {
      engine = await openEngine(kind);
      engine.senpuki.durable('square', async (_ctx, x: number) => x * x, { queue: 'many' });
    });
    after(() => engine.close());

    it('starts a batch of executions with one statement and returns their ids in order', async () => {
      const { senpuki } = engine;
      const statements: string[] = [];
      const query = senpuki.store.db.query.bind(senpuki.store.db);
      senpuki.store.db.query = ((text: string, values?: unknown[]) => (statements.push(text), query(text, values))) as typeof query;
      let ids: string[];
      try {
        ids = await senpuki.dispatchMany(Array.from({ length: 50 }, (_, i) => ({ fn: 'square', args: [i], options: { tags: [`n${i}`] } })));
      } finally {
        senpuki.store.db.query = query;
      }
      assert.equal(statements.length, 1, 'one statement for fifty executions');
      assert.equal(new Set(ids).size, 50);
      const worker = await senpuki.serve({ concurrency: 10, queues: ['many'] });
      try {
        const results = await Promise.all(ids.map((id) => senpuki.waitFor<number>(id, { timeoutMs: 20_000 })));
        assert.deepEqual(results, Array.from({ length: 50 }, (_, i) => i * i));
        const third = await senpuki.stateOf(ids[3]!);
        assert.deepEqual([third.functionName, third.args, third.tags, third.queue], ['square', [3], ['n3'], 'many']);
      } finally {
        await worker.stop();
      }
    });

    it('honours each item\'s idempotency key, against earlier dispatches and within the batch', async () => {
      const { senpuki } = engine;
      const earlier = await senpuki.dispatch('square', [1], { idempotencyKey: 'many-earlier', delay: '1h' });
      const results = await senpuki.submitMany([
        { fn: 'square', args: [2], options: { idempotencyKey: 'many-earlier', delay: '1h' } },
        { fn: 'square', args: [3], options: { idempotencyKey: 'many-new', delay: '1h' } },
        { fn: 'square', args: [4], options: { idempotencyKey: 'many-new', delay: '1h' } },
        { fn: 'square', args: [5], options: { delay: '1h' } },
      ]);
      assert.deepEqual(results.map((result) => result.created), [false, true, false, true]);
      assert.equal(results[0]!.execution.id, earlier);
      assert.deepEqual(results[0]!.execution.args, [1], 'the earlier execution, as it was dispatched');
      assert.equal(results[2]!.execution.id, results[1]!.execution.id, 'the batch\'s own first use of the key');
      assert.deepEqual(results[2]!.execution.args, [3]);
    });

    it('dispatches nothing when an item is invalid, and says which items and why', async () => {
      const { senpuki } = engine;
      const before = await senpuki.countExecutions({ functionName: 'square' });
      const error = await senpuki
        .dispatchMany([
          { fn: 'square', args: [1] },
          { fn: 'nope', args: [] },
          { fn: 'square', args: [() => 1] as unknown[] },
          { fn: 'square', args: [2], options: { priority: 1.5 } },
        ])
        .then(() => undefined, (caught: unknown) => caught);
      assert.ok(error instanceof DispatchBatchError, String(error));
      assert.equal(error.code, 'BAD_USER_INPUT');
      assert.deepEqual(error.items.map((item) => item.index), [1, 2, 3]);
      assert.match(error.items[0]!.message, /No durable function named "nope".*registered: square/);
      assert.match(error.items[1]!.message, /args\[0\] is a function/);
      assert.match(error.items[2]!.message, /priority/);
      assert.match(error.message, /^3 of 4 items are invalid, so none was dispatched\. items\[1\]: /);
      assert.equal(await senpuki.countExecutions({ functionName: 'square' }), before, 'nothing was dispatched');
    });

    it('refuses more items than the limit with a message that says to split the batch', async () => {
      const { senpuki } = engine;
      await assert.rejects(
        senpuki.dispatchMany(Array.from({ length: 1001 }, () => ({ fn: 'square', args: [1] }))),
        (error: unknown) => error instanceof ValidationError && /at most 1000 items at once; got 1001\. Split the batch/.test(error.message),
      );
      assert.deepEqual(await senpuki.dispatchMany([]), []);
    });
  });
}
