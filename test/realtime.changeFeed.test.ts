import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Senpuki } from '../server/engine/senpuki.js';
import { RedisBackend } from '../server/notifications/redisBackend.js';
import { PostgresNotifyBackend } from '../server/notifications/postgresNotifyBackend.js';
import { waitFor } from './helpers/conditions.js';
import { startRedisServer, type RedisServerProcess } from './helpers/redisServer.js';
import { redisUrl, requireRedis } from './helpers/services.js';
import { openPostgresTestStore, postgresReachable, postgresUrl, type TestStore } from './helpers/stores.js';

// Polling this slow cannot explain a wake-up within a test: only a message can.
const NO_POLLING = { pollMinIntervalMs: 60_000, pollMaxIntervalMs: 60_000 };

/** Ends an execution the way a worker elsewhere would, but without announcing it. */
async function completeSilently(testStore: TestStore, executionId: string, result: unknown): Promise<void> {
  await testStore.store.db.query(
    `UPDATE senpuki_executions SET state = 'completed', result = $2, finished_at = now() WHERE id = $1`,
    [executionId, JSON.stringify(result)],
  );
}

describe('change feed over real notifications (postgres store)', { skip: !(await postgresReachable()) && 'Postgres is not reachable' }, () => {
  let testStore: TestStore;
  before(async () => {
    testStore = await openPostgresTestStore();
  });
  after(() => testStore.dispose());

  it('wakes a waiter on a raw redis-cli PUBLISH in the spec format', async (t) => {
    if (!(await requireRedis(t))) return;
    const notifications = new RedisBackend(redisUrl);
    const senpuki = new Senpuki({ store: testStore.store, notifications, ...NO_POLLING });
    t.after(() => notifications.close());
    senpuki.durable('pushed', async () => 'unused');
    const id = await senpuki.dispatch('pushed', []);
    const waiting = senpuki.waitFor(id, { timeoutMs: 20_000 });
    await waitFor(() => notifications.subscribedChannelCount >= 1, { message: 'the wait to subscribe' });
    await completeSilently(testStore, id, 'from elsewhere');
    const { port, hostname } = new URL(redisUrl);
    execFileSync('redis-cli', ['-h', hostname, '-p', port || '6379', 'PUBLISH', `senpuki:execution:${id}`, `{"execution_id": "${id}", "state": "completed"}`]);
    assert.equal(await waiting, 'from elsewhere');
  });

  it('returns at once from a wait on an execution that finished before the wait began', async (t) => {
    if (!(await requireRedis(t))) return;
    const notifications = new RedisBackend(redisUrl);
    const senpuki = new Senpuki({ store: testStore.store, notifications, ...NO_POLLING });
    t.after(() => notifications.close());
    senpuki.durable('early', async () => 'unused');
    const id = await senpuki.dispatch('early', []);
    await completeSilently(testStore, id, 'already done');
    assert.equal(await senpuki.waitFor(id, { timeoutMs: 5_000 }), 'already done');
  });

  it('shares one watcher and one channel between every wait and watch of a row, and frees it after the last', async (t) => {
    if (!(await requireRedis(t))) return;
    const notifications = new RedisBackend(redisUrl);
    const senpuki = new Senpuki({ store: testStore.store, notifications, ...NO_POLLING });
    t.after(() => notifications.close());
    senpuki.durable('shared', async () => 'unused');
    const id = await senpuki.dispatch('shared', []);
    const waits = [senpuki.waitFor(id, { timeoutMs: 20_000 }), senpuki.waitFor(id, { timeoutMs: 20_000 })];
    const watch = senpuki.feed.watchExecution(id);
    const resumed = senpuki.feed.watchExecution(id, { since: 1 });
    const leaving = senpuki.feed.watchExecution(id);
    assert.equal((await watch.next()).value?.state, 'pending', 'the snapshot first');
    assert.equal((await leaving.next()).value?.state, 'pending');
    assert.equal(senpuki.feed.watchedRows, 1);
    assert.equal(notifications.subscribedChannelCount, 1, 'one channel for the row');
    await leaving.return();
    const resumedNext = resumed.next(); // nothing at or below `since`: the first it gets is the terminal version
    await completeSilently(testStore, id, 'shared result');
    await notifications.notifyExecutionUpdated(id, 'completed');
    assert.deepEqual(await Promise.all(waits), ['shared result', 'shared result']);
    const terminal = await watch.next();
    assert.equal(terminal.value?.state, 'completed');
    assert.equal((await watch.next()).done, true, 'completes after the terminal version');
    assert.equal((await resumedNext).value?.version, terminal.value?.version);
    assert.equal((await resumed.next()).done, true);
    await waitFor(() => senpuki.feed.watchedRows === 0 && notifications.subscribedChannelCount === 0, { message: 'the row to be unwatched' });
  });

  it('wakes a waiter through Postgres LISTEN/NOTIFY when there is no Redis', async (t) => {
    const notifications = new PostgresNotifyBackend(postgresUrl);
    const senpuki = new Senpuki({ store: testStore.store, notifications, ...NO_POLLING });
    t.after(() => notifications.close());
    senpuki.durable('notified', async (_ctx, n: number) => n + 1);
    const worker = await senpuki.serve();
    t.after(() => worker.stop());
    const id = await senpuki.dispatch('notified', [41]);
    assert.equal(await senpuki.waitFor(id, { timeoutMs: 20_000 }), 42);
  });

  describe('when Redis dies in the middle of a wait', () => {
    let redis: RedisServerProcess;
    before(async () => {
      redis = await startRedisServer();
    });
    after(() => redis.stop());

    it('carries on by polling, loses nothing, and gets push back when Redis returns', async (t) => {
      const notifications = new RedisBackend(redis.url, { subscribeTimeoutMs: 500 });
      // Push is trusted while connected (60 s safety net); during the outage the feed polls fast.
      const senpuki = new Senpuki({ store: testStore.store, notifications, pollMinIntervalMs: 50, pollMaxIntervalMs: 60_000, pollBackoffFactor: 1 });
      t.after(() => notifications.close());
      senpuki.durable('outage', async () => 'unused');
      const first = await senpuki.dispatch('outage', []);
      const firstWait = senpuki.waitFor(first, { timeoutMs: 20_000 });
      await waitFor(() => notifications.subscribedChannelCount >= 1, { message: 'the first wait to subscribe' });

      await redis.kill();
      await waitFor(() => !notifications.connected, { message: 'the backend to notice the outage' });
      await completeSilently(testStore, first, 'during the outage');
      assert.equal(await firstWait, 'during the outage');

      await redis.restart();
      await waitFor(() => notifications.connected, { message: 'the backend to reconnect', timeoutMs: 15_000 });
      const second = await senpuki.dispatch('outage', []);
      const secondWait = senpuki.waitFor(second, { timeoutMs: 20_000 });
      await waitFor(() => notifications.subscribedChannelCount >= 1, { message: 'the second wait to subscribe', timeoutMs: 15_000 });
      await completeSilently(testStore, second, 'after the outage');
      await notifications.notifyExecutionUpdated(second, 'completed');
      assert.equal(await secondWait, 'after the outage');
    });
  });
});

describe('a watcher\'s poll (postgres store, no notifications)', { skip: !(await postgresReachable()) && 'Postgres is not reachable' }, () => {
  let testStore: TestStore;
  const reads = { full: 0, newer: 0 };
  before(async () => {
    testStore = await openPostgresTestStore();
    const { store } = testStore;
    const getExecutions = store.getExecutions.bind(store);
    const getNewerExecutions = store.getNewerExecutions.bind(store);
    store.getExecutions = (ids) => ((reads.full += ids.length), getExecutions(ids));
    store.getNewerExecutions = (known) => ((reads.newer += known.length), getNewerExecutions(known));
  });
  after(() => testStore.dispose());

  it('asks only whether the row moved on: an unchanged row is never read again, a silent change is still found, a deleted row ends the feed', async () => {
    const senpuki = new Senpuki({ store: testStore.store, pollMinIntervalMs: 10, pollMaxIntervalMs: 20 });
    senpuki.durable('polled', async () => 'unused');
    const changed = await senpuki.dispatch('polled', []);
    const deleted = await senpuki.dispatch('polled', []);
    const feeds = [senpuki.watchExecution(changed), senpuki.watchExecution(deleted)];
    for (const feed of feeds) assert.equal((await feed.next()).value?.state, 'pending');
    const fullReads = reads.full;
    const polledBefore = reads.newer;
    await waitFor(() => reads.newer - polledBefore >= 10, { message: 'the watchers to poll' });
    assert.equal(reads.full, fullReads, 'polls of unchanged rows read no row');

    await completeSilently(testStore, changed, 'found by polling');
    const next = await feeds[0]!.next();
    assert.equal(next.value?.state, 'completed');
    assert.equal(next.value?.result, 'found by polling');
    assert.equal((await feeds[0]!.next()).done, true);

    await testStore.store.db.query(`DELETE FROM senpuki_tasks WHERE execution_id = $1`, [deleted]);
    await testStore.store.db.query(`DELETE FROM senpuki_executions WHERE id = $1`, [deleted]);
    await assert.rejects(feeds[1]!.next(), (error: Error) => error.name === 'NotFoundError' && error.message.includes(deleted));
    assert.equal(senpuki.feed.watchedRows, 0);
  });

  it('gives a consumer that joins a watched row during a store outage its snapshot once the store answers, though the row did not change', { timeout: 10_000 }, async () => {
    const senpuki = new Senpuki({ store: testStore.store, pollMinIntervalMs: 10, pollMaxIntervalMs: 20 });
    senpuki.durable('joined', async () => 'unused');
    const id = await senpuki.dispatch('joined', []);
    const first = senpuki.watchExecution(id);
    assert.equal((await first.next()).value?.state, 'pending');
    const { store } = testStore;
    const getExecutions = store.getExecutions;
    let failures = 0;
    store.getExecutions = async (ids) => {
      if (failures++ < 2) throw new Error('Connection terminated unexpectedly');
      return getExecutions.call(store, ids);
    };
    try {
      const joined = senpuki.watchExecution(id);
      assert.equal((await joined.next()).value?.state, 'pending', 'the snapshot, after the failed reads');
      assert.ok(failures >= 2);
      await joined.return();
    } finally {
      store.getExecutions = getExecutions;
      await first.return();
    }
  });
});
