import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from './helpers/conditions.js';
import { FaultCluster } from './helpers/faultCluster.js';
import { followToEnd } from './helpers/liveFollow.js';
import { redisUrl, requirePostgres, requireRedis } from './helpers/services.js';

describe('the API server SIGKILLed and restarted under live SDK iterators (graphql-ws and SSE, Postgres + Redis)', () => {
  it('every iterator resumes and ends in the true terminal state, with strictly increasing versions', async (t) => {
    if (!(await requirePostgres(t)) || !(await requireRedis(t))) return;
    const cluster = await FaultCluster.start({ redisUrl });
    try {
      const ids = await cluster.dispatchFanOuts(5, 12, 250);
      const ws = cluster.client('ws');
      const sse = cluster.client('sse');
      const followed = ids.flatMap((id) => [followToEnd(ws, id), followToEnd(sse, id)]);
      await waitFor(async () => (await cluster.runs()).filter((run) => run.event === 'done').length >= 10, { message: 'children to finish' });
      await cluster.restartServer();
      const outcomes = await Promise.all(followed);
      const states = await cluster.states(ids);
      outcomes.forEach((outcome, index) => {
        const id = ids[Math.floor(index / 2)]!;
        assert.equal(outcome.error, undefined, `${index % 2 ? 'SSE' : 'graphql-ws'} iterator of ${id} failed: ${String(outcome.error)}`);
        assert.equal(outcome.state, states.get(id)!.toUpperCase(), 'ends in the state the store holds');
        assert.equal(outcome.state, 'COMPLETED');
        for (let i = 1; i < outcome.versions.length; i++) {
          assert.ok(outcome.versions[i]! > outcome.versions[i - 1]!, `versions strictly increase: ${outcome.versions.join(',')}`);
        }
      });
      cluster.assertAllRunning();
      await cluster.assertCompletedChildrenRanOnce();
    } finally {
      const codes = await cluster.close();
      assert.deepEqual(codes, codes.map(() => 0), 'every process stops cleanly');
    }
  });
});
