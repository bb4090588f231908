import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from './helpers/conditions.js';
import { FaultCluster } from './helpers/faultCluster.js';
import { hasRedisServerBinary, startRedisServer, type RedisServerProcess } from './helpers/redisServer.js';
import { requirePostgres } from './helpers/services.js';
import { followToEnd } from './helpers/liveFollow.js';

describe('Redis killed and restarted mid-run (an API server and two workers on Postgres + a Redis of their own)', () => {
  let redis: RedisServerProcess | undefined;
  before(async () => {
    if (await hasRedisServerBinary()) redis = await startRedisServer();
  });
  after(async () => {
    await redis?.stop();
  });

  it('work goes on by polling, push comes back, every process logs the outage and its end, and nothing is lost', async (t) => {
    if (!(await requirePostgres(t))) return;
    assert.ok(redis, 'redis-server is installed (the CI machine has it)');
    const cluster = await FaultCluster.start({ redisUrl: redis.url });
    try {
      const ids = await cluster.dispatchFanOuts(3, 20, 150);
      const followed = ids.flatMap((id) => [followToEnd(cluster.client('ws'), id), followToEnd(cluster.client('sse'), id)]);
      await waitFor(async () => (await cluster.runs()).some((run) => run.event === 'done'), { message: 'children to run' });
      await redis.kill();
      const doneBefore = (await cluster.runs()).filter((run) => run.event === 'done').length;
      // Without Redis, work still moves: children finish while it is down.
      await waitFor(async () => (await cluster.runs()).filter((run) => run.event === 'done').length > doneBefore + 5, {
        timeoutMs: 20_000,
        message: 'children to finish while Redis is down',
      });
      await redis.restart();
      await waitFor(async () => [...(await cluster.states(ids)).values()].every((state) => state === 'completed'), {
        timeoutMs: 60_000,
        message: 'every execution to complete',
      });
      for (const outcome of await Promise.all(followed)) {
        assert.equal(outcome.state, 'COMPLETED', `an iterator ended in ${outcome.state}`);
        assert.deepEqual(outcome.versions, [...outcome.versions].sort((a, b) => a - b), 'versions only increase');
        assert.equal(new Set(outcome.versions).size, outcome.versions.length, 'no version twice');
      }
      cluster.assertAllRunning();
      const runs = await cluster.assertCompletedChildrenRanOnce();
      assert.equal(runs.filter((run) => run.event === 'start').length, 3 * 20, 'no child ran twice');
      for (const child of [cluster.server, ...cluster.workers]) {
        // ioredis retries every 2 s at most; a loaded machine (the whole suite) needs more than the default wait.
        await waitFor(() => /Redis is reachable again/.test(child.output()), { timeoutMs: 30_000, message: 'the recovery in the log' });
        assert.match(child.output(), /Redis is unreachable/);
      }
    } finally {
      const codes = await cluster.close();
      assert.deepEqual(codes, codes.map(() => 0), 'every process stops cleanly');
    }
  });
});
