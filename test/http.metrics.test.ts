import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NonRetryableError } from '../server/errors.js';
import type { Worker } from '../server/engine/worker.js';
import { startServer, type SenpukiServer } from '../server/http/startServer.js';
import { RedisBackend } from '../server/notifications/redisBackend.js';
import { Senpuki } from '../server/engine/senpuki.js';
import { Store } from '../server/store/store.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { quietLogger } from './helpers/graphqlApp.js';
import { wsClient, wsSubscribe } from './helpers/graphqlClients.js';
import { freePort } from './helpers/redisServer.js';

/** The value of one sample line of a Prometheus text exposition, or undefined. */
function sample(metrics: string, line: string): number | undefined {
  const found = metrics.split('\n').find((candidate) => candidate.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('engine metrics on /metrics and health on /healthz', () => {
  let engine: TestEngine;
  let server: SenpukiServer;
  let worker: Worker;
  const scrape = async () => (await fetch(`${server.url}/metrics`)).text();

  before(async () => {
    engine = await openEngine('pglite', { pollMinIntervalMs: 20 });
    const { senpuki } = engine;
    senpuki.durable('works', async () => 'ok');
    let calls = 0;
    senpuki.durable('flaky', async () => {
      if (++calls === 1) throw new Error('first try fails');
      throw new NonRetryableError('then it gives up');
    }, { retry: { maxAttempts: 2, initialDelayMs: 0 } });
    senpuki.durable('parked', async () => 'never', { queue: 'idle' });
    server = await startServer({ senpuki, port: 0, logger: quietLogger, processMetrics: false, engineMetrics: { queueDepthIntervalMs: 50 } });
    worker = await senpuki.serve({ queues: ['default'], maintenanceIntervalMs: 50 });
  });
  after(async () => {
    await worker.stop();
    await server.close();
    await engine.close();
  });

  it('counts task runs by function and outcome, with start delays and durations', async () => {
    const { senpuki } = engine;
    await senpuki.waitFor(await senpuki.dispatch('works', []), { timeoutMs: 10_000 });
    await assert.rejects(senpuki.waitFor(await senpuki.dispatch('flaky', []), { timeoutMs: 10_000 }));
    const metrics = await waitFor(async () => {
      const text = await scrape();
      return sample(text, 'senpuki_tasks_finished_total{function="flaky",outcome="failed"}') === 1 ? text : undefined;
    }, { message: 'the failed run to be counted' });
    assert.equal(sample(metrics, 'senpuki_tasks_started_total{function="works"}'), 1);
    assert.equal(sample(metrics, 'senpuki_tasks_started_total{function="flaky"}'), 2);
    assert.equal(sample(metrics, 'senpuki_tasks_finished_total{function="works",outcome="completed"}'), 1);
    assert.equal(sample(metrics, 'senpuki_tasks_finished_total{function="flaky",outcome="retried"}'), 1);
    assert.equal(sample(metrics, 'senpuki_task_start_delay_seconds_count{function="works"}'), 1, 'first attempts only');
    assert.equal(sample(metrics, 'senpuki_task_duration_seconds_count{function="flaky",outcome="retried"}'), 1);
  });

  it('samples the depth of each queue, and counts leases taken back from dead workers', async () => {
    const { senpuki } = engine;
    for (let i = 0; i < 3; i++) await senpuki.dispatch('parked', []);
    await waitFor(async () => sample(await scrape(), 'senpuki_queue_depth{queue="idle"}') === 3, { message: 'a depth of 3 on queue idle' });
    // A task claimed by a worker that is gone: its lease runs out and this worker takes it back.
    senpuki.durable('orphan', async () => 'ok', { queue: 'idle' });
    await senpuki.dispatch('orphan', [], { priority: 10 });
    const [claimed] = await senpuki.store.claimTasks({ workerId: 'gone', queues: ['idle'], functionNames: ['orphan'], limit: 1, leaseMs: 1 });
    assert.equal(claimed?.functionName, 'orphan');
    await waitFor(async () => (sample(await scrape(), 'senpuki_leases_taken_back_total{outcome="requeued"}') ?? 0) >= 1, { message: 'the take-back to be counted' });
  });

  it('reports open subscriptions by kind', async () => {
    const id = await engine.senpuki.dispatch('parked', []);
    const client = wsClient(server.graphqlUrl);
    try {
      const { log } = wsSubscribe(client, `subscription { executionUpdated(id: "${id}") { state } }`);
      await log.waitForEvents(1);
      assert.equal(sample(await scrape(), 'senpuki_graphql_subscriptions_active{kind="executionUpdated"}'), 1);
    } finally {
      await client.dispose();
    }
    await waitFor(async () => sample(await scrape(), 'senpuki_graphql_subscriptions_active{kind="executionUpdated"}') === 0, { message: 'the count to drop' });
  });

  it('counts every subscription started: on the row path, on Yoga\'s, and members joining a running one', async () => {
    const id = await engine.senpuki.dispatch('parked', []);
    const started = async () => sample(await scrape(), 'senpuki_graphql_operations_total{type="subscription",outcome="started"}') ?? 0;
    const before = await started();
    const client = wsClient(server.graphqlUrl);
    try {
      // Two on one row's state (the row path), then two of the same list feed (Yoga's path; the
      // second joins the first when that one is already running, and counts either way).
      const rows = [1, 2].map(() => wsSubscribe(client, `subscription { executionUpdated(id: "${id}") { state } }`));
      const lists = [1, 2].map(() => wsSubscribe(client, `subscription { executionTasksUpdated(executionId: "${id}") { id } }`));
      for (const { log } of [...rows, ...lists]) await log.waitForEvents(1);
      assert.equal((await started()) - before, 4);
    } finally {
      await client.dispose();
    }
  });
});

describe('/healthz with notifications down', () => {
  it('is degraded, not down, while the notification backend cannot connect: waits poll the store', async () => {
    const store = await Store.embedded({ dataDir: 'memory://' });
    const notifications = new RedisBackend(`redis://127.0.0.1:${await freePort()}`, { redisOptions: { retryStrategy: () => 200 } });
    const senpuki = new Senpuki({ store, notifications, logger: quietLogger });
    const worker = await senpuki.serve();
    const server = await startServer({ senpuki, port: 0, logger: quietLogger, processMetrics: false });
    try {
      const health = await waitFor(async () => {
        const response = await fetch(`${server.url}/healthz`);
        const body = (await response.json()) as { status: string; notifications: { backend: string; connected: boolean } };
        return body.status === 'degraded' ? { status: response.status, body } : undefined;
      }, { message: 'a degraded health report' });
      assert.equal(health.status, 200, 'still serving: slower, not broken');
      assert.deepEqual(health.body.notifications, { backend: 'redis', connected: false });
      assert.match(await (await fetch(`${server.url}/metrics`)).text(), /senpuki_notifications_connected 0/);
    } finally {
      await worker.stop();
      await server.close();
      await senpuki.close();
    }
  });
});
