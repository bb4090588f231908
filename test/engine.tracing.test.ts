import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Senpuki } from '../server/engine/senpuki.js';
import { startServer } from '../server/http/startServer.js';
import { Store } from '../server/store/store.js';
import { startTsxChild } from './helpers/childProcesses.js';
import { postGraphQL, wsClient, wsSubscribe } from './helpers/graphqlClients.js';
import { requirePostgres } from './helpers/services.js';
import { openPostgresTestStore, postgresUrl } from './helpers/stores.js';
import { registerTestTracing, type SpanRecord } from './helpers/tracing.js';
import { registerTracedFunctions } from './fixtures/tracedFunctions.js';

const ERROR = 2;

describe('OpenTelemetry traces across an API server and a worker process (in-memory exporters)', () => {
  it('one trace runs from the GraphQL dispatch through every task attempt and child call on the worker', async (t) => {
    if (!(await requirePostgres(t))) return;
    const tracing = registerTestTracing();
    const { store, schema, dispose } = await openPostgresTestStore();
    const senpuki = new Senpuki({ store, pollMinIntervalMs: 20, logger: pino({ level: 'silent' }) });
    registerTracedFunctions(senpuki);
    const server = await startServer({ senpuki, port: 0, logger: pino({ level: 'silent' }), processMetrics: false });
    const dir = mkdtempSync(join(tmpdir(), 'senpuki-traces-'));
    const spansPath = join(dir, 'worker-spans.json');
    const worker = await startTsxChild('test/fixtures/tracedWorker.ts', { DATABASE_URL: postgresUrl, SENPUKI_TEST_SCHEMA: schema!, SENPUKI_TEST_SPANS: spansPath });
    try {
      const { body } = await postGraphQL(fetch, server.graphqlUrl, 'mutation Dispatch { dispatch(input: { function: "tracedParent", args: [1] }) { execution { id } } }');
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      assert.deepEqual(await senpuki.waitFor(body.data.dispatch.execution.id, { timeoutMs: 20_000 }), [10, 20, 30]);
      assert.equal(await worker.stop(), 0);
      const api = tracing.spans();
      const workerSpans = JSON.parse(readFileSync(spansPath, 'utf8')) as SpanRecord[];
      const one = (spans: SpanRecord[], name: string) => {
        const found = spans.filter((span) => span.name === name);
        assert.equal(found.length, 1, `one ${name} span; got ${found.length}`);
        return found[0]!;
      };

      const operation = one(api, 'graphql.mutation Dispatch');
      const dispatch = one(api, 'senpuki.dispatch tracedParent');
      assert.equal(dispatch.parentSpanId, operation.spanId, 'the dispatch runs inside the GraphQL operation');
      assert.equal(dispatch.attributes['senpuki.execution_id'], body.data.dispatch.execution.id);

      const parentTask = one(workerSpans, 'senpuki.task tracedParent');
      assert.equal(parentTask.traceId, operation.traceId, 'the worker continues the API server\'s trace');
      assert.equal(parentTask.parentSpanId, dispatch.spanId, 'through the trace context stored on the root task');
      const calls = workerSpans.filter((span) => span.name === 'senpuki.call tracedLeaf');
      assert.equal(calls.length, 3);
      for (const call of calls) assert.equal(call.parentSpanId, parentTask.spanId);
      const leafRuns = workerSpans.filter((span) => span.name === 'senpuki.task tracedLeaf');
      assert.equal(leafRuns.length, 4, 'three children, one of them run twice');
      for (const run of leafRuns) {
        assert.equal(run.traceId, operation.traceId);
        assert.ok(calls.some((call) => call.spanId === run.parentSpanId), 'each child run belongs to its call');
      }
      const failed = leafRuns.filter((run) => run.status === ERROR);
      assert.equal(failed.length, 1, 'the failed first attempt is marked');
      assert.equal(failed[0]!.attributes['senpuki.outcome'], 'retried');
      assert.equal(failed[0]!.attributes['senpuki.attempt'], 1);
    } finally {
      await worker.stop();
      await server.close();
      await senpuki.close();
      await dispose();
      await tracing.shutdown();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a subscription\'s start is a span on the row path too, failed when its checks refuse it', async () => {
    const tracing = registerTestTracing();
    const senpuki = new Senpuki({ store: await Store.embedded({ dataDir: 'memory://' }), logger: pino({ level: 'silent' }) });
    senpuki.durable('parked', async () => 'never', { queue: 'idle' });
    const server = await startServer({ senpuki, port: 0, logger: pino({ level: 'silent' }), processMetrics: false });
    const client = wsClient(server.graphqlUrl);
    try {
      const id = await senpuki.dispatch('parked', []);
      const watched = wsSubscribe(client, 'subscription Watch($id: ID!) { executionUpdated(id: $id) { state } }', { id });
      const missing = wsSubscribe(client, 'subscription Missing($id: ID!) { executionUpdated(id: $id) { state } }', { id: crypto.randomUUID() });
      await watched.log.waitForEvents(1);
      await missing.log.waitForEvents(1);
      assert.equal(missing.log.events[0]?.errors?.[0]?.extensions?.code, 'NOT_FOUND');
      const spans = tracing.spans();
      const watch = spans.filter((span) => span.name === 'graphql.subscription Watch');
      assert.equal(watch.length, 1, `one span for the subscription's start; got ${spans.map((span) => span.name).join(', ')}`);
      assert.equal(watch[0]!.attributes['graphql.operation.type'], 'subscription');
      assert.equal(watch[0]!.attributes['graphql.operation.name'], 'Watch');
      assert.notEqual(watch[0]!.status, ERROR);
      const refused = spans.filter((span) => span.name === 'graphql.subscription Missing');
      assert.equal(refused.length, 1);
      assert.equal(refused[0]!.status, ERROR, 'NOT_FOUND marks the span failed');
    } finally {
      await client.dispose();
      await server.close();
      await senpuki.close();
      await tracing.shutdown();
    }
  });
});
