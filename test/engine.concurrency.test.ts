import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Store } from '../server/store/store.js';
import { describeOnEachStore } from './helpers/engine.js';
import { postgresUrl, openPostgresTestStore, postgresReachable, type TestStore } from './helpers/stores.js';
import { waitFor } from './helpers/conditions.js';

/** Inserts `count` pending executions of `functionName` in one statement (their root tasks are what workers claim). */
async function insertPending(
  store: Store,
  count: number,
  row: { functionName: string; queue?: string; priority?: number; tags?: string[] },
): Promise<void> {
  await store.db.query(
    `WITH ids AS (SELECT gen_random_uuid() AS eid, gen_random_uuid() AS tid FROM generate_series(1, $1)),
     e AS (INSERT INTO senpuki_executions (id, function_name, args, state, queue, tags, priority, root_task_id)
           SELECT eid, $2, '[]', 'pending', $3, $5, $4, tid FROM ids RETURNING id, root_task_id)
     INSERT INTO senpuki_tasks (id, execution_id, kind, function_name, args, state, queue, tags, priority)
     SELECT root_task_id, id, 'function', $2, '[]', 'pending', $3, $5, $4 FROM e`,
    [count, row.functionName, row.queue ?? 'default', row.priority ?? 0, row.tags ?? []],
  );
}

async function runningCount(store: Store, functionName: string): Promise<number> {
  const { rows } = await store.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM senpuki_tasks WHERE function_name = $1 AND state = 'running'`,
    [functionName],
  );
  return rows[0]!.n;
}

describe('concurrency limits under racing claimers (postgres)', { skip: !(await postgresReachable()) && 'Postgres is not reachable' }, () => {
  let testStore: TestStore;
  let claimers: Store[];
  before(async () => {
    testStore = await openPostgresTestStore();
    // Separate pools: the claims really run at the same time on different connections.
    claimers = Array.from({ length: 6 }, () => Store.postgres(postgresUrl, { schema: testStore.schema, maxConnections: 4 }));
  });
  after(async () => {
    await Promise.all(claimers.map((store) => store.close()));
    await testStore.dispose();
  });

  it('never lets workers take more than maxConcurrent tasks of a function, however many claim at once', async () => {
    const { store } = testStore;
    const maxConcurrent = 3;
    await insertPending(store, 60, { functionName: 'limited' });
    await insertPending(store, 20, { functionName: 'unlimited' });
    const claim = (claimer: Store, n: number) =>
      claimer.claimTasks({
        workerId: `worker-${n}`, queues: ['default'], functionNames: ['limited', 'unlimited'],
        limits: { limited: maxConcurrent }, limit: 5, leaseMs: 60_000,
      });
    let finished = 0;
    let unlimitedClaimed = 0;
    for (let round = 0; finished < 60; round++) {
      assert.ok(round < 200, 'every limited task is eventually claimed');
      const claimed = (await Promise.all(Array.from({ length: 24 }, (_, n) => claim(claimers[n % claimers.length]!, n)))).flat();
      unlimitedClaimed += claimed.filter((task) => task.functionName === 'unlimited').length;
      const running = await runningCount(store, 'limited');
      assert.ok(running <= maxConcurrent, `round ${round}: ${running} limited tasks running, limit ${maxConcurrent}`);
      // Finish some of the running ones (not always all), as workers would.
      const { rows } = await store.db.query<{ id: string; execution_id: string; lease_owner: string }>(
        `SELECT id, execution_id, lease_owner FROM senpuki_tasks WHERE function_name = 'limited' AND state = 'running'`,
      );
      for (const row of rows.slice(0, 1 + (round % maxConcurrent))) {
        assert.ok(await store.settleTask(row.id, row.execution_id, row.lease_owner, { kind: 'completed', result: null }));
        finished++;
      }
    }
    assert.equal(unlimitedClaimed, 20, 'functions without a limit are claimed alongside');
  });
});

await describeOnEachStore('routing and limits', (engine) => {
  it('runs at most maxConcurrent tasks of a function at once across two workers', async () => {
    const { senpuki } = engine;
    let inFlight = 0;
    let peak = 0;
    const scarce = senpuki.durable(
      'scarce',
      async () => {
        peak = Math.max(peak, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 30));
        inFlight--;
        return 'done';
      },
      { maxConcurrent: 2 },
    );
    const workers = await Promise.all([senpuki.serve({ concurrency: 4 }), senpuki.serve({ concurrency: 4 })]);
    try {
      const ids = await Promise.all(Array.from({ length: 10 }, () => senpuki.dispatch(scarce, [])));
      for (const id of ids) assert.equal(await senpuki.waitFor(id, { timeoutMs: 20_000 }), 'done');
      assert.equal(peak, 2);
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
    }
    assert.throws(() => senpuki.durable('badLimit', async () => 1, { maxConcurrent: 0 }), /maxConcurrent must be a positive integer/);
  });

  it('claims an eligible task behind a thousand rows it may not take', async () => {
    const { senpuki } = engine;
    const { store } = senpuki;
    const full = 'routingFull';
    // One running task fills the limit of `full`; its 400 pending rows stay first in line.
    await insertPending(store, 1, { functionName: full, priority: 10 });
    const claimOptions = { workerId: 'router', queues: ['default'], tags: ['eu'], functionNames: [full, 'routingTarget'], limits: { [full]: 1 }, leaseMs: 60_000 };
    assert.equal((await store.claimTasks({ ...claimOptions, tags: undefined, limit: 1 }))[0]?.functionName, full);
    await insertPending(store, 400, { functionName: full, priority: 10, tags: ['eu'] });
    await insertPending(store, 300, { functionName: 'routingTarget', queue: 'elsewhere', priority: 10, tags: ['eu'] });
    await insertPending(store, 300, { functionName: 'routingTarget', priority: 10, tags: ['us'] });
    await insertPending(store, 1, { functionName: 'routingTarget', priority: -5, tags: ['eu'] });
    const claimed = await store.claimTasks({ ...claimOptions, limit: 5 });
    assert.deepEqual(claimed.map((task) => [task.functionName, task.queue, task.tags, task.priority]), [['routingTarget', 'default', ['eu'], -5]]);
    assert.equal(await runningCount(store, full), 1);
  });

  it('runs higher priority first and keeps queues apart', async () => {
    const { senpuki } = engine;
    const order: string[] = [];
    const job = senpuki.durable('prioritised', async (_ctx, label: string) => {
      order.push(label);
      return label;
    });
    const ids = [
      await senpuki.dispatch(job, ['low'], { priority: -1 }),
      await senpuki.dispatch(job, ['high'], { priority: 5 }),
      await senpuki.dispatch(job, ['middle'], { priority: 0 }),
    ];
    const other = await senpuki.dispatch(job, ['other queue'], { queue: 'reports' });
    const worker = await senpuki.serve({ concurrency: 1, queues: ['default'] });
    try {
      for (const id of ids) await senpuki.waitFor(id, { timeoutMs: 10_000 });
      assert.deepEqual(order, ['high', 'middle', 'low']);
      assert.equal((await senpuki.stateOf(other)).state, 'pending', 'a worker leaves queues it does not serve');
      const reports = await senpuki.serve({ queues: ['reports'] });
      try {
        assert.equal(await senpuki.waitFor(other, { timeoutMs: 10_000 }), 'other queue');
      } finally {
        await reports.stop();
      }
    } finally {
      await worker.stop();
    }
  });

  it('wakes idle workers when a slot of a limited function frees up', async () => {
    const { senpuki } = engine;
    const single = senpuki.durable('oneAtATime', async (_ctx, n: number) => n, { maxConcurrent: 1 });
    // Long poll intervals: finishing quickly proves the wake-up, not a poll tick.
    const worker = await senpuki.serve({ concurrency: 3 });
    try {
      const started = Date.now();
      const ids = await Promise.all(Array.from({ length: 6 }, (_, n) => senpuki.dispatch(single, [n])));
      for (const [n, id] of ids.entries()) assert.equal(await senpuki.waitFor(id, { timeoutMs: 10_000 }), n);
      assert.ok(Date.now() - started < 4000, `6 one-at-a-time tasks took ${Date.now() - started} ms`);
    } finally {
      await worker.stop();
    }
  });
});
