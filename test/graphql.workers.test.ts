import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '../server/engine/worker.js';
import { startServer, type SenpukiServer } from '../server/http/startServer.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { quietLogger } from './helpers/graphqlApp.js';
import { postGraphQL, wsClient, wsSubscribe } from './helpers/graphqlClients.js';

const WORKERS = `{ workers { id host pid queues tags functions concurrency running suspended startedAt lastSeenAt } }`;
const WAITING = `query($id: ID!) { execution(id: $id) { state waitingReason } }`;

for (const kind of ['pglite', 'postgres'] as const) {
  describe(`workers are visible (${kind})`, () => {
    let engine: TestEngine;
    let server: SenpukiServer;
    let worker: Worker;
    const gql = (query: string, variables?: Record<string, unknown>, headers?: Record<string, string>) => postGraphQL(fetch, server.graphqlUrl, query, variables, headers);

    before(async () => {
      engine = await openEngine(kind);
      engine.senpuki.durable('onDefault', async () => 'ok');
      engine.senpuki.durable('onGpu', async () => 'ok', { queue: 'gpu' });
      engine.senpuki.durable('tagged', async () => 'ok', { queue: 'eu', tags: ['us'] });
      worker = await engine.senpuki.serve({ concurrency: 3, queues: ['default', 'eu'], tags: ['eu'] });
      server = await startServer({ senpuki: engine.senpuki, port: 0, logger: quietLogger, processMetrics: false });
    });
    after(async () => {
      await worker.stop();
      await server.close();
      await engine.close();
    });

    it('the workers query lists each live worker with what it serves and how busy it is', async () => {
      const { body } = await gql(WORKERS);
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      const [row] = body.data.workers;
      assert.equal(body.data.workers.length, 1);
      assert.equal(row.id, worker.id);
      assert.equal(row.pid, process.pid);
      assert.deepEqual(row.queues, ['default', 'eu']);
      assert.deepEqual(row.tags, ['eu']);
      assert.deepEqual([...row.functions].sort(), ['onDefault', 'onGpu', 'tagged']);
      assert.deepEqual([row.concurrency, row.running, row.suspended], [3, 0, 0]);
      assert.ok(Date.now() - Date.parse(row.lastSeenAt) < 5000);
    });

    it('a pending execution no live worker will take says why; one that can be taken does not', async () => {
      const dispatched = await gql(`mutation { dispatch(input: { function: "onGpu" }) { token execution { id } } }`);
      const { token, execution: { id: gpu } } = dispatched.body.data.dispatch;
      const { body } = await gql(WAITING, { id: gpu });
      assert.equal(body.data.execution.state, 'PENDING');
      assert.match(body.data.execution.waitingReason, /No live worker takes queue "gpu" \(live workers take: default, eu\)/);
      const tagged = await engine.senpuki.dispatch('tagged', []);
      assert.match((await gql(WAITING, { id: tagged })).body.data.execution.waitingReason, /takes only tagged tasks, and this one has tags us/);
      const fine = await engine.senpuki.dispatch('onDefault', [], { delay: '1h', tags: ['eu'] });
      assert.deepEqual((await gql(WAITING, { id: fine })).body.data.execution, { state: 'PENDING', waitingReason: null }, 'delayed, not unserved');
      // A read token sees that it waits, not which queues the workers take.
      const asToken = await gql(WAITING, { id: gpu }, { authorization: `Bearer ${token}` });
      assert.match(asToken.body.data.execution.waitingReason, /No live worker takes queue "gpu"\. Start one/);
      assert.equal((await gql(WORKERS, undefined, { authorization: `Bearer ${token}` })).body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    });

    it('workersUpdated sends the list again when a worker comes and goes', async () => {
      const client = wsClient(server.graphqlUrl);
      try {
        const { log } = wsSubscribe(client, 'subscription { workersUpdated { id running } }');
        await log.waitForEvents(1);
        assert.deepEqual(log.events[0]!.data!.workersUpdated.map((row: { id: string }) => row.id), [worker.id]);
        const second = await engine.senpuki.serve({ concurrency: 1 });
        await waitFor(() => log.events.some((event) => event.data?.workersUpdated.length === 2), { message: 'the second worker to appear' });
        await second.stop();
        await waitFor(() => log.events.at(-1)?.data?.workersUpdated.length === 1, { message: 'the second worker to go' });
      } finally {
        await client.dispose();
      }
    });
  });
}
