import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from './helpers/conditions.js';
import { FaultCluster } from './helpers/faultCluster.js';
import { redisUrl, requirePostgres, requireRedis } from './helpers/services.js';

describe('senpuki worker --metrics-port', () => {
  it('serves the engine metrics and health of a worker process, which has no GraphQL server', async (t) => {
    if (!(await requirePostgres(t)) || !(await requireRedis(t))) return;
    const cluster = await FaultCluster.start({ redisUrl, workers: 1, workerArgs: ['--metrics-port', '0'] });
    try {
      const base = /^metrics (http:\/\/\S+)\/metrics/m.exec(cluster.workers[0]!.output())?.[1];
      assert.ok(base, `the worker prints where its metrics are:\n${cluster.workers[0]!.output()}`);
      const [id] = await cluster.dispatchFanOuts(1, 3, 10);
      await waitFor(async () => (await cluster.states([id!])).get(id!) === 'completed', { message: 'the fan-out to complete' });
      const metrics = await waitFor(async () => {
        const text = await (await fetch(`${base}/metrics`)).text();
        return /senpuki_tasks_finished_total\{function="faultChild",outcome="completed"\} 3/.test(text) ? text : undefined;
      }, { message: 'the worker to count its three children' });
      assert.match(metrics, /senpuki_tasks_started_total\{function="faultFanOut"\} 1/);
      assert.match(metrics, /senpuki_notifications_connected 1/);
      assert.match(metrics, /process_cpu_user_seconds_total/);
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      const body = (await health.json()) as { status: string; notifications: { backend: string }; workers: Array<{ state: string }> };
      assert.equal(body.status, 'ok');
      assert.equal(body.notifications.backend, 'redis');
      assert.deepEqual(body.workers.map((worker) => worker.state), ['ready']);
    } finally {
      const codes = await cluster.close();
      assert.deepEqual(codes, codes.map(() => 0));
    }
  });
});
