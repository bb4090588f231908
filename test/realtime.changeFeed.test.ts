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
