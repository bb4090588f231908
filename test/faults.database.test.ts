import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from './helpers/conditions.js';
import { FaultCluster } from './helpers/faultCluster.js';
import { followToEnd } from './helpers/liveFollow.js';
import { redisUrl, requirePostgres, requireRedis } from './helpers/services.js';

/** Terminates every backend of the cluster `times` times, `everyMs` apart, while work runs. */
async function terminateRepeatedly(cluster: FaultCluster, times: number, everyMs: number): Promise<number> {
  let terminated = 0;
  for (let i = 0; i < times; i++) {
    terminated += await cluster.terminateBackends();
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return terminated;
}

for (const backend of ['redis', 'postgres'] as const) {
  describe(`Postgres connections terminated mid-run (an API server and two workers, ${backend === 'redis' ? 'Redis' : 'LISTEN/NOTIFY'} notifications)`, () => {
    it('no process exits, every execution completes and no child runs twice', async (t) => {
      if (!(await requirePostgres(t))) return;
      if (backend === 'redis' && !(await requireRedis(t))) return;
      const cluster = await FaultCluster.start({ redisUrl: backend === 'redis' ? redisUrl : undefined });
      try {
        const ids = await cluster.dispatchFanOuts(4, 30, 40);
        const followed = ids.flatMap((id) => [followToEnd(cluster.client('ws'), id), followToEnd(cluster.client('sse'), id)]);
        await waitFor(async () => (await cluster.runs()).some((run) => run.event === 'done'), { message: 'children to start running' });
        const terminated = await terminateRepeatedly(cluster, 8, 300);
        assert.ok(terminated >= 8, `backends were terminated (${terminated})`);

        await waitFor(async () => [...(await cluster.states(ids)).values()].every((state) => state === 'completed'), {
          timeoutMs: 60_000,
          message: 'every execution to complete',
        });
        cluster.assertAllRunning();
        const runs = await cluster.assertCompletedChildrenRanOnce();
        // No worker died, so no child had a reason to run twice: each key started exactly once.
        const starts = runs.filter((run) => run.event === 'start');
        assert.equal(starts.length, 4 * 30, 'every child started once');
        assert.equal(new Set(starts.map((run) => run.key)).size, 4 * 30);
        for (const outcome of await Promise.all(followed)) {
          assert.equal(outcome.error, undefined, String(outcome.error));
          assert.equal(outcome.state, 'COMPLETED');
          for (let i = 1; i < outcome.versions.length; i++) assert.ok(outcome.versions[i]! > outcome.versions[i - 1]!, `versions increase: ${outcome.versions.join(',')}`);
        }
      } finally {
        const codes = await cluster.close();
        assert.deepEqual(codes, codes.map(() => 0), 'every process stops cleanly');
      }
    });
  });
}
