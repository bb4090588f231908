import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { waitFor } from './helpers/conditions.js';
import { FaultCluster } from './helpers/faultCluster.js';
import { redisUrl, requirePostgres, requireRedis } from './helpers/services.js';

/** How soon, with default settings, the tasks of a killed worker must run elsewhere. */
const RECOVERY_BOUND_MS = 8000;

describe('a worker SIGKILLed mid-fan-out (an API server and two workers, Postgres + Redis, default lease)', () => {
  it('its children run again on the other worker within seconds; nothing is lost and no completed child runs again', async (t) => {
    if (!(await requirePostgres(t)) || !(await requireRedis(t))) return;
    const cluster = await FaultCluster.start({ redisUrl });
    try {
      const ids = await cluster.dispatchFanOuts(3, 20, 400);
      const victim = cluster.workers[0]!;
      const victimPid = victim.process.pid!;
      // Kill it while it runs children: some have started there and not finished.
      const inFlight = await waitFor(async () => {
        const runs = await cluster.runs();
        const done = new Set(runs.filter((run) => run.event === 'done').map((run) => run.key));
        const started = runs.filter((run) => run.event === 'start' && run.pid === victimPid && !done.has(run.key)).map((run) => run.key);
        return started.length >= 2 ? started : undefined;
      }, { message: 'children running on the first worker' });
      const exited = once(victim.process, 'exit');
      victim.process.kill('SIGKILL');
      await exited;
      const killedAt = Date.now();
      cluster.workers.splice(0, 1);

      const survivorPid = cluster.workers[0]!.process.pid!;
      const rerunAt = await waitFor(async () => {
        const runs = await cluster.runs();
        const restarted = inFlight.map((key) => runs.find((run) => run.key === key && run.event === 'start' && run.pid === survivorPid));
        return restarted.every(Boolean) ? Math.max(...restarted.map((run) => run!.at)) : undefined;
      }, { timeoutMs: 30_000, message: "the killed worker's children to run again on the survivor" });
      assert.ok(rerunAt - killedAt < RECOVERY_BOUND_MS, `the killed worker's children ran again ${rerunAt - killedAt} ms after the kill`);

      await waitFor(async () => [...(await cluster.states(ids)).values()].every((state) => state === 'completed'), {
        timeoutMs: 60_000,
        message: 'every execution to complete',
      });
      cluster.assertAllRunning();
      const runs = await cluster.assertCompletedChildrenRanOnce();
      const finished = new Set(runs.filter((run) => run.event === 'done').map((run) => run.key));
      assert.equal(finished.size, 3 * 20);
    } finally {
      const codes = await cluster.close();
      assert.deepEqual(codes, codes.map(() => 0), 'the surviving processes stop cleanly');
    }
  });
});
