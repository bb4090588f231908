import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Senpuki } from '../server/engine/senpuki.js';
import { argsHash } from '../server/engine/resultCache.js';
import { Store } from '../server/store/store.js';
import { describeOnEachStore } from './helpers/engine.js';
import { postgresUrl, openPostgresTestStore, postgresReachable, type TestStore } from './helpers/stores.js';
import { waitFor } from './helpers/conditions.js';

describe('idempotency keys across processes (postgres)', { skip: !(await postgresReachable()) && 'Postgres is not reachable' }, () => {
  let testStore: TestStore;
  before(async () => {
    testStore = await openPostgresTestStore();
  });
  after(() => testStore.dispose());

  it('makes one execution when dispatches with one key race on separate connections', async () => {
    // Two engines with their own pools stand for two server processes.
    const engines = [0, 1].map(() => new Senpuki({ store: Store.postgres(postgresUrl, { schema: testStore.schema }) }));
    try {
      for (const senpuki of engines) senpuki.durable('chargeOnce', async () => 'charged');
      for (let round = 0; round < 25; round++) {
        const key = `order-${round}`;
        const results = await Promise.all(engines.flatMap((senpuki) => [0, 1].map(() => senpuki.submit('chargeOnce', [], { idempotencyKey: key }))));
        assert.equal(new Set(results.map((r) => r.execution.id)).size, 1, `round ${round}: one execution for the key`);
        assert.equal(results.filter((r) => r.created).length, 1, `round ${round}: exactly one dispatch created it`);
      }
      assert.equal(await testStore.store.countExecutions({ functionName: 'chargeOnce' }), 25);
    } finally {
      await Promise.all(engines.map((senpuki) => senpuki.close()));
    }
  });
});

describe('stable argument hashing', () => {
  it('hashes objects the same whatever the key order, and different values differently', () => {
    assert.equal(argsHash([{ a: 1, b: [1, { c: 2, d: 3 }] }]), argsHash([{ b: [1, { d: 3, c: 2 }], a: 1 }]));
    assert.notEqual(argsHash([1, 2]), argsHash([2, 1]));
    assert.notEqual(argsHash(['1']), argsHash([1]));
  });
});

await describeOnEachStore('cached results', (engine) => {
  it('reuses a result for the same arguments within the TTL without running the function', async () => {
    const { senpuki } = engine;
    let runs = 0;
    const quote = senpuki.durable(
      'quote',
      async (_ctx, request: { from: string; to: string }) => {
        runs++;
        return `${request.from}->${request.to} #${runs}`;
      },
      { cache: { ttlMs: '1h' } },
    );
    const twice = senpuki.durable('quoteTwice', async (ctx) => [
      await ctx.call(quote, { from: 'A', to: 'B' }),
      await ctx.call(quote, { to: 'B', from: 'A' }),
    ]);
    const worker = await senpuki.serve();
    try {
      const first = await senpuki.waitFor(await senpuki.dispatch(quote, [{ from: 'A', to: 'B' }]), { timeoutMs: 10_000 });
      assert.equal(first, 'A->B #1');
      assert.deepEqual(await senpuki.waitFor(await senpuki.dispatch(twice, []), { timeoutMs: 10_000 }), ['A->B #1', 'A->B #1']);
      assert.equal(runs, 1, 'dispatches and child calls with equal arguments reuse the result');
      assert.equal(await senpuki.waitFor(await senpuki.dispatch(quote, [{ from: 'B', to: 'A' }]), { timeoutMs: 10_000 }), 'B->A #2');
      assert.equal(runs, 2, 'other arguments run');
    } finally {
      await worker.stop();
    }
  });

  it('runs again once the cached result has expired, and never caches a failure', async () => {
    const { senpuki } = engine;
    let runs = 0;
    let failNext = true;
    const rate = senpuki.durable(
      'shortLivedRate',
      async () => {
        runs++;
        if (failNext) {
          failNext = false;
          throw new Error('rate service down');
        }
        return runs;
      },
      { cache: { ttlMs: 300 } },
    );
    const worker = await senpuki.serve();
    try {
      await assert.rejects(senpuki.waitFor(await senpuki.dispatch(rate, []), { timeoutMs: 10_000 }), /rate service down/);
      assert.equal(await senpuki.waitFor(await senpuki.dispatch(rate, []), { timeoutMs: 10_000 }), 2, 'the failure was not cached');
      assert.equal(await senpuki.waitFor(await senpuki.dispatch(rate, []), { timeoutMs: 10_000 }), 2, 'cached');
      await waitFor(async () => !(await senpuki.store.getCachedResult('shortLivedRate', argsHash([]))), { message: 'the cached result to expire' });
      assert.equal(await senpuki.waitFor(await senpuki.dispatch(rate, []), { timeoutMs: 10_000 }), 3);
    } finally {
      await worker.stop();
    }
  });

  it('rejects a cache option without a usable TTL', () => {
    const { senpuki } = engine;
    assert.throws(() => senpuki.durable('noTtl', async () => 1, { cache: {} as { ttlMs: number } }), /cache needs a ttlMs/);
    assert.throws(() => senpuki.durable('zeroTtl', async () => 1, { cache: { ttlMs: 0 } }), /cache\.ttlMs must be at least 1 ms/);
  });
});
