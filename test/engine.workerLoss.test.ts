import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { WORKER_LOCK_NAMESPACE } from '../server/store/workerQueries.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine } from './helpers/engine.js';
import { requirePostgres } from './helpers/services.js';
import { postgresUrl, storeKinds } from './helpers/stores.js';

const claimAs = (workerId: string, leaseMs: number) => ({
  workerId,
  queues: ['default'],
  functionNames: ['crashy'],
  limit: 1,
  leaseMs,
});

for (const kind of await storeKinds()) {
  describe(`tasks of lost workers (${kind})`, () => {
    it('a task taken back from dead workers more than maxLeaseLosses times fails for good, with a dead letter saying why', async () => {
      const engine = await openEngine(kind);
      try {
        const { senpuki } = engine;
        const { store } = senpuki;
        senpuki.durable('crashy', async () => 'never stored');
        const id = await senpuki.dispatch('crashy', []);
        const states: string[] = [];
        for (let loss = 1; loss <= 3; loss++) {
          const [claimed] = await store.claimTasks(claimAs(`ghost-${loss}`, 1));
          assert.ok(claimed, `claimed for run ${loss}`);
          const changes = await waitFor(async () => {
            const reaped = await store.reapExpiredLeases({ maxLeaseLosses: 2 });
            return reaped.tasks.length > 0 ? reaped : undefined;
          }, { message: `the lease of run ${loss} to be taken back` });
          states.push(changes.tasks[0]!.state);
        }
        assert.deepEqual(states, ['pending', 'pending', 'failed'], 'twice taken back, failed on the third loss');
        const execution = await senpuki.stateOf(id);
        assert.equal(execution.state, 'failed');
        assert.equal(execution.error?.name, 'WorkerLostError');
        const [letter] = await senpuki.listDeadLetters({ executionId: id });
        assert.equal(letter?.error.name, 'WorkerLostError');
        assert.match(letter!.error.message, /stopped \(killed, crashed or cut off\) 3 times/);
        // A replay starts the count again.
        await senpuki.replayDeadLetter(letter!.id);
        const [again] = await store.claimTasks(claimAs('ghost-4', 1));
        assert.ok(again);
        const reaped = await waitFor(async () => {
          const changes = await store.reapExpiredLeases({ maxLeaseLosses: 2 });
          return changes.tasks.length > 0 ? changes : undefined;
        }, { message: 'the replayed task to be taken back' });
        assert.equal(reaped.tasks[0]!.state, 'pending', 'a replayed task may be lost twice again');
      } finally {
        await engine.close();
      }
    });
  });
}

describe('dead workers are noticed by their presence lock (postgres)', () => {
  it('takes back the tasks of a worker whose lock was released, before their lease expires, and leaves a stalled one alone', async (t) => {
    if (!(await requirePostgres(t))) return;
    const engine = await openEngine('postgres');
    const holder = new pg.Client({ connectionString: postgresUrl });
    holder.on('error', () => {});
    try {
      const { senpuki } = engine;
      const { store } = senpuki;
      senpuki.durable('crashy', async () => 'never stored');
      await senpuki.dispatch('crashy', []);
      // A worker that holds its lock but has not been seen for a minute: stalled, not dead.
      await holder.connect();
      const schema = (await store.db.query<{ schema: string }>('SELECT current_schema() AS schema')).rows[0]!.schema;
      await holder.query('SELECT pg_advisory_lock($1, $2)', [WORKER_LOCK_NAMESPACE, 4242]);
      await holder.query(
        `INSERT INTO ${schema}.senpuki_workers (id, host, pid, queues, concurrency, lock_key, last_seen_at)
         VALUES ('stalled', 'h', 1, '{default}', 1, 4242, now() - interval '1 minute')`,
      );
      const [claimed] = await store.claimTasks(claimAs('stalled', 60_000));
      assert.ok(claimed);
      assert.equal((await store.reapExpiredLeases()).tasks.length, 0, 'a held lock means the process lives');

      await holder.end(); // the process dies: Postgres frees its lock with its connection
      const reaped = await waitFor(async () => {
        const changes = await store.reapExpiredLeases();
        return changes.tasks.length > 0 ? changes : undefined;
      }, { message: "the dead worker's task to be taken back" });
      assert.deepEqual(reaped.tasks.map((task) => [task.id, task.state]), [[claimed.id, 'pending']]);
      assert.equal((await store.getTask(claimed.id))?.leaseOwner, undefined);
      assert.equal(await store.removeDeadWorkers(), 1, 'the dead worker is forgotten once it holds nothing');
    } finally {
      await holder.end().catch(() => {});
      await engine.close();
    }
  });

  it('a running worker records itself and removes its record when it stops', async (t) => {
    if (!(await requirePostgres(t))) return;
    const engine = await openEngine('postgres');
    try {
      const { senpuki } = engine;
      senpuki.durable('crashy', async () => 'ok');
      const worker = await senpuki.serve({ concurrency: 3, queues: ['default', 'other'] });
      const rows = async () => (await senpuki.store.db.query<{ id: string; concurrency: number; queues: string[]; pid: number }>('SELECT id, concurrency, queues, pid FROM senpuki_workers')).rows;
      assert.deepEqual(await rows(), [{ id: worker.id, concurrency: 3, queues: ['default', 'other'], pid: process.pid }]);
      await worker.stop();
      assert.deepEqual(await rows(), []);
    } finally {
      await engine.close();
    }
  });
});
