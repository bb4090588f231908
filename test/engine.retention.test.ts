import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { NotFoundError, NonRetryableError } from '../server/errors.js';
import { argsHash } from '../server/engine/resultCache.js';
import { RETENTION_LOCK_SQL } from '../server/store/retentionQueries.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { postgresUrl, openPostgresTestStore, postgresReachable, storeKinds, type TestStore } from './helpers/stores.js';
import { waitFor } from './helpers/conditions.js';

for (const kind of await storeKinds()) {
  describe(`retention (${kind})`, () => {
    let engine: TestEngine;
    before(async () => {
      engine = await openEngine(kind);
    });
    after(() => engine.close());

    it('removes finished executions with their tasks and signals, keeping active ones and failed ones with dead letters', async () => {
      const { senpuki } = engine;
      const { store } = senpuki;
      const step = senpuki.durable('keptStep', async () => 'step');
      const flow = senpuki.durable('purgedFlow', async (ctx) => [await ctx.call(step), await ctx.waitForSignal('go')]);
      const failing = senpuki.durable('failsForRetention', async () => {
        throw new NonRetryableError('broken');
      });
      senpuki.durable('neverServed', async () => 1);
      const worker = await senpuki.serve();
      try {
        const done = await senpuki.dispatch(flow, []);
        await senpuki.sendSignal(done, 'go', 1);
        await senpuki.sendSignal(done, 'go', 2); // Left buffered.
        await senpuki.waitFor(done, { timeoutMs: 10_000 });
        const failed = await senpuki.dispatch(failing, []);
        await assert.rejects(senpuki.waitFor(failed, { timeoutMs: 10_000 }));
        const active = await senpuki.dispatch('neverServed', [], { queue: 'nobody' });

        const first = await senpuki.purgeExpired({ completedMs: 0 });
        assert.equal(first.skipped, false);
        assert.equal(first.executions, 1);
        await assert.rejects(senpuki.stateOf(done), NotFoundError);
        assert.deepEqual(await senpuki.listTasks(done), []);
        const { rows } = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM senpuki_signals WHERE execution_id = $1', [done]);
        assert.equal(rows[0]!.n, 0, 'signals go with their execution');
        assert.equal((await senpuki.stateOf(active)).state, 'pending', 'active executions stay');
        assert.equal((await senpuki.stateOf(failed)).state, 'failed', 'a failed execution stays while its dead letter can replay it');

        const second = await senpuki.purgeExpired({ completedMs: 0, deadLettersMs: 0 });
        assert.deepEqual([second.deadLetters, second.executions], [1, 1]);
        await assert.rejects(senpuki.stateOf(failed), NotFoundError);
        assert.equal(await senpuki.countDeadLetters(), 0);
        await senpuki.cancel(active);
      } finally {
        await worker.stop();
      }
    });

    it('clears old idempotency keys, so the key starts a new execution, and removes expired cached results', async () => {
      const { senpuki } = engine;
      const once = senpuki.durable('keyedOnce', async () => 'ok');
      const brief = senpuki.durable('brieflyCached', async () => 'fresh', { cache: { ttlMs: 1 } });
      const worker = await senpuki.serve();
      try {
        const first = await senpuki.dispatch(once, [], { idempotencyKey: 'nightly-2024-01-01' });
        await senpuki.waitFor(first, { timeoutMs: 10_000 });
        await senpuki.waitFor(await senpuki.dispatch(brief, []), { timeoutMs: 10_000 });
        await waitFor(async () => !(await senpuki.store.getCachedResult('brieflyCached', argsHash([]))), { message: 'the cached result to expire' });
        const counts = await senpuki.purgeExpired({ idempotencyKeysMs: 0 });
        assert.deepEqual([counts.idempotencyKeys, counts.cachedResults, counts.executions], [1, 1, 0]);
        const second = await senpuki.dispatch(once, [], { idempotencyKey: 'nightly-2024-01-01' });
        assert.notEqual(second, first);
        await senpuki.waitFor(second, { timeoutMs: 10_000 });
        assert.equal((await senpuki.stateOf(first)).idempotencyKey, undefined);
      } finally {
        await worker.stop();
      }
    });

    it('is run by workers on their own, every retention interval', async () => {
      const { senpuki } = engine;
      const shortLived = senpuki.durable('shortLived', async () => 'gone soon');
      const worker = await senpuki.serve({ maintenanceIntervalMs: 20, retention: { completedMs: 0, intervalMs: 50 } });
      try {
        const id = await senpuki.dispatch(shortLived, []);
        // No waitFor first: with completedMs 0 the row may be gone before a wait could read it.
        // Only finished executions are removed, so its disappearance shows it ran and was purged.
        await waitFor(() => senpuki.stateOf(id).then(() => false, (error) => error instanceof NotFoundError), { message: 'the worker to remove the execution' });
      } finally {
        await worker.stop();
      }
      await assert.rejects(senpuki.purgeExpired({ completedMs: 'a week' }), /retention\.completedMs must be a number of milliseconds or a string like "500ms"/);
    });
  });
}

describe('retention across processes (postgres)', { skip: !(await postgresReachable()) && 'Postgres is not reachable' }, () => {
  let testStore: TestStore;
  before(async () => {
    testStore = await openPostgresTestStore();
  });
  after(() => testStore.dispose());

  it('runs one batch at a time: a worker finding another one at it skips its turn', async () => {
    const { store } = testStore;
    const other = new pg.Client({ connectionString: postgresUrl, options: `-c search_path=${testStore.schema}` });
    await other.connect();
    try {
      await other.query('BEGIN');
      const { rows } = await other.query<{ locked: boolean }>(`SELECT pg_try_advisory_xact_lock(${RETENTION_LOCK_SQL}) AS locked`);
      assert.equal(rows[0]!.locked, true);
      assert.deepEqual(await store.purgeExpired({ completedMs: 0 }), { executions: 0, deadLetters: 0, idempotencyKeys: 0, cachedResults: 0, skipped: true });
      await other.query('COMMIT');
      assert.equal((await store.purgeExpired({ completedMs: 0 })).skipped, false, 'the lock went with the other transaction');
    } finally {
      await other.end();
    }
  });
});
