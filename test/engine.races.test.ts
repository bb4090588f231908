import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ValidationError } from '../server/errors.js';
import { timeoutSignal } from '../server/support/timers.js';
import { Senpuki } from '../server/engine/senpuki.js';
import { Store } from '../server/store/store.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { openPostgresTestStore, postgresReachable, storeKinds, type TestStore } from './helpers/stores.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const kind of await storeKinds()) {
  describe(`races the engine must survive (${kind})`, () => {
    let engine: TestEngine;
    before(async () => {
      engine = await openEngine(kind);
    });
    after(() => engine.close());

    it('completes on one slot when a branch starts a new call while another branch waits for the slot back', async () => {
      const { senpuki } = engine;
      const slowLeaf = senpuki.durable('slowLeaf', async () => {
        await pause(300);
        return 'leaf';
      });
      const first = senpuki.durable('firstBranch', async () => {
        await senpuki.dispatch(slowLeaf, []); // Takes the freed slot while the orchestrator waits.
        return 'a';
      });
      const second = senpuki.durable('secondBranch', async () => 'b');
      const branchy = senpuki.durable('branchy', async (ctx) =>
        Promise.all([ctx.call(first), (async () => (await pause(150), ctx.call(second)))()]),
      );
      // A slow read widens the window in which the claim loop takes the slot first.
      const getTasks = senpuki.store.getTasks.bind(senpuki.store);
      senpuki.store.getTasks = async (ids) => (await pause(50), getTasks(ids));
      const worker = await senpuki.serve({ concurrency: 1 });
      try {
        assert.deepEqual(await senpuki.waitFor(await senpuki.dispatch(branchy, []), { timeoutMs: 15_000 }), ['a', 'b']);
        assert.equal(worker.health().freeSlots, 1, 'every slot is back once the work is done');
      } finally {
        senpuki.store.getTasks = getTasks;
        await worker.stop();
      }
    });

    it('treats a failed store read during a wait as a missed tick, not the end of the workflow', async () => {
      const { senpuki } = engine;
      let finishChild!: () => void;
      const childMayFinish = new Promise<void>((resolve) => (finishChild = resolve));
      const child = senpuki.durable('blippedChild', async () => {
        await childMayFinish;
        return 'done';
      });
      const parent = senpuki.durable('blippedParent', async (ctx) => ctx.call(child));
      const worker = await senpuki.serve();
      const { store } = senpuki;
      const getTasks = store.getTasks.bind(store);
      const getNewerTasks = store.getNewerTasks.bind(store);
      let failures = 0;
      const blip = () => {
        if (failures++ < 2) throw new Error('Connection terminated unexpectedly');
      };
      try {
        const id = await senpuki.dispatch(parent, []);
        await waitFor(async () => (await senpuki.listTasks(id)).some((task) => task.functionName === 'blippedChild' && task.state === 'running'), {
          message: 'the child to start',
        });
        // Every read of task rows fails twice: the parent's wait on its child meets them, whether it reads on a message or polls.
        store.getTasks = async (ids) => (blip(), getTasks(ids));
        store.getNewerTasks = async (known) => (blip(), getNewerTasks(known));
        finishChild();
        assert.equal(await senpuki.waitFor(id, { timeoutMs: 15_000 }), 'done');
        assert.ok(failures >= 2, 'the wait met the failing reads');
      } finally {
        store.getTasks = getTasks;
        store.getNewerTasks = getNewerTasks;
        await worker.stop();
      }
    });

    it('fails a replay that makes a different call at the same position, saying why', async () => {
      const { senpuki } = engine;
      senpuki.durable('stepA', async () => 'a');
      senpuki.durable('stepB', async () => 'b');
      let runs = 0;
      const fickle = senpuki.durable(
        'fickle',
        async (ctx) => {
          runs++;
          const result = await ctx.call(runs === 1 ? 'stepA' : 'stepB');
          if (runs === 1) throw new Error('retry me');
          return result;
        },
        { retry: { maxAttempts: 2, initialDelayMs: 1 } },
      );
      const worker = await senpuki.serve();
      try {
        const id = await senpuki.dispatch(fickle, []);
        await assert.rejects(senpuki.waitFor(id, { timeoutMs: 10_000 }), /NonDeterminismError: fickle made call #0 to stepB, but an earlier run made it to stepA/);
        assert.equal(runs, 2);
        const stored = (await senpuki.stateOf(id)).error;
        assert.equal(stored?.name, 'NonDeterminismError', 'stored under its own name, so it is never retried by retryOn');
      } finally {
        await worker.stop();
      }
    });

    it('settles a cancelling execution left with an idle task and nothing running', async () => {
      const { senpuki } = engine;
      senpuki.durable('leftBehind', async () => 1);
      const id = await senpuki.dispatch('leftBehind', [], { queue: 'nobody' });
      // The state a cancel racing a lease reap could leave: cancelling, with a task requeued.
      await senpuki.store.db.query(`UPDATE senpuki_executions SET state = 'cancelling' WHERE id = $1`, [id]);
      const changes = await senpuki.store.settleStalledCancellations();
      assert.deepEqual(changes.executions, [{ id, state: 'cancelled' }]);
      assert.deepEqual((await senpuki.listTasks(id)).map((task) => task.state), ['cancelled']);
    });

    it('keeps a task version when a heartbeat only renews its lease, and bumps it on a real change', async () => {
      const { senpuki } = engine;
      senpuki.durable('heartbeaten', async () => 1);
      const id = await senpuki.dispatch('heartbeaten', [], { queue: 'heartbeats' });
      const [task] = await senpuki.store.claimTasks({ workerId: 'w', queues: ['heartbeats'], functionNames: ['heartbeaten'], limit: 1, leaseMs: 1000 });
      assert.ok(task);
      const { held } = await senpuki.store.renewLeases('w', [task.id], 60_000);
      assert.equal(held.size, 1);
      const renewed = await senpuki.getTask(task.id);
      assert.equal(renewed.version, task.version);
      assert.equal(renewed.changeSeq, task.changeSeq);
      assert.ok(renewed.leaseExpiresAt! > task.leaseExpiresAt!);
      await senpuki.store.settleTask(task.id, id, 'w', { kind: 'completed', result: 1 });
      assert.equal((await senpuki.getTask(task.id)).version, task.version + 1);
    });

    it('refuses durations past ten years instead of passing them to the database', async () => {
      const { senpuki } = engine;
      senpuki.durable('patient', async () => 1);
      await assert.rejects(senpuki.dispatch('patient', [], { delay: 1e16 }), (error: unknown) => {
        assert.ok(error instanceof ValidationError);
        assert.match(error.message, /delay must be at most ten years/);
        return true;
      });
      assert.equal((await senpuki.store.db.query('SELECT 1 AS one')).rows[0]!.one, 1, 'the store still answers');
    });
  });
}

describe('engine edges', () => {
  it('keeps the embedded store answering after a query fails', async () => {
    const store = await Store.embedded({ dataDir: 'memory://' });
    try {
      await store.initDb();
      for (let i = 0; i < 3; i++) await assert.rejects(store.getTask('not-a-uuid'), /invalid input syntax for type uuid/);
      assert.deepEqual((await store.db.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    } finally {
      await store.close();
    }
  });

  it('waits out timeouts longer than a timer can hold (about 24.8 days) instead of firing at once', async () => {
    const signal = timeoutSignal(30 * 24 * 3_600_000);
    await pause(20);
    assert.equal(signal.aborted, false);
    const short = timeoutSignal(10);
    await waitFor(() => short.aborted, { message: 'a short timeout to fire' });
  });

  it('rejects a worker that starts while its engine closes, leaving nothing running', async () => {
    const store = await Store.embedded({ dataDir: 'memory://' });
    const senpuki = new Senpuki({ store });
    senpuki.durable('never', async () => 1);
    const serving = senpuki.serve();
    const closing = senpuki.close();
    await assert.rejects(serving, /closed while the worker was starting/);
    await closing;
  });
});

describe('claims racing cancels (postgres)', { skip: !(await postgresReachable()) && 'Postgres is not reachable' }, () => {
  let testStore: TestStore;
  before(async () => {
    testStore = await openPostgresTestStore();
  });
  after(() => testStore.dispose());

  it('never deadlock: a claim skips execution rows that a cancel holds instead of waiting for them', async () => {
    const { store } = testStore;
    const failures: unknown[] = [];
    for (let round = 0; round < 15; round++) {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const { execution } = await store.createExecution({
          id: randomUUID(), rootTaskId: randomUUID(), functionName: 'f', args: [], queue: 'race', tags: [], priority: 0, delayMs: 0, maxAttempts: 1,
        });
        ids.push(execution.id);
      }
      const operations = [
        ...Array.from({ length: 5 }, (_, i) => store.claimTasks({ workerId: `w${i}`, queues: ['race'], functionNames: ['f'], limit: 4, leaseMs: 30_000 })),
        ...ids.map((id) => store.cancelExecution(id)),
      ];
      for (const result of await Promise.allSettled(operations)) if (result.status === 'rejected') failures.push(result.reason);
    }
    assert.deepEqual(failures.map(String), []);
  });
});
