import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from './helpers/conditions.js';
import { FaultCluster } from './helpers/faultCluster.js';
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
        const live = cluster.client();
        const finals = ids.map(async (id) => {
          const versions: number[] = [];
          let last;
          for await (const execution of live.executionUpdates(id)) {
            versions.push(execution.version);
            last = execution;
          }
          return { state: last?.state, versions };
        });
        const settled = Promise.allSettled(finals);
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
        for (const outcome of await settled) {
          assert.equal(outcome.status, 'fulfilled', String((outcome as PromiseRejectedResult).reason));
          const { state, versions } = (outcome as PromiseFulfilledResult<{ state?: string; versions: number[] }>).value;
          assert.equal(state, 'COMPLETED');
          for (let i = 1; i < versions.length; i++) assert.ok(versions[i]! > versions[i - 1]!, `versions increase: ${versions.join(',')}`);
        }
      } finally {
        const codes = await cluster.close();
        assert.deepEqual(codes, codes.map(() => 0), 'every process stops cleanly');
      }
    });
  });
}
