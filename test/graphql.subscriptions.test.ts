import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from 'graphql-ws';
import type { Worker } from '../server/engine/worker.js';
import { startServer, type SenpukiServer } from '../server/http/startServer.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { Gates } from './helpers/gates.js';
import { quietLogger } from './helpers/graphqlApp.js';
import { sseSubscribe, wsClient, wsSubscribe, type EventLog } from './helpers/graphqlClients.js';

const EXECUTION_UPDATED = `subscription($id: ID!, $since: Int) { executionUpdated(id: $id, since: $since) { id state version result terminal } }`;
const TASK_UPDATED = `subscription($id: ID!, $since: Int) { taskUpdated(id: $id, since: $since) { id state version result } }`;
const EXECUTION_TASKS_UPDATED = `subscription($executionId: ID!, $since: String) {
  executionTasksUpdated(executionId: $executionId, since: $since) { id parentId state version changeSeq result }
}`;
const UNKNOWN_ID = '7d444840-9dc0-11d1-b245-5ffdce74fad2';

type Transport = 'graphql-ws' | 'SSE';

describe('GraphQL subscriptions over real sockets', () => {
  let engine: TestEngine;
  let server: SenpukiServer;
  let worker: Worker;
  let client: Client;
  const gates = new Gates();

  before(async () => {
    engine = await openEngine('pglite');
    const gated = engine.senpuki.durable('gated', async (_ctx, key: string) => gates.wait(key));
    engine.senpuki.durable('fanOut', async (ctx, keys: string[]) => ctx.map(gated, keys));
    server = await startServer({ senpuki: engine.senpuki, port: 0, logger: quietLogger, processMetrics: false, limits: { maxSubscriptionsPerConnection: 3 } });
    worker = await engine.senpuki.serve({ concurrency: 10 });
    client = wsClient(server.graphqlUrl);
  });
  after(async () => {
    gates.openAll();
    await client.dispose();
    await worker.stop();
    await server.close();
    await engine.close();
  });

  function subscribe(transport: Transport, query: string, variables: Record<string, unknown>): { log: EventLog; stop: () => void } {
    return transport === 'graphql-ws' ? wsSubscribe(client, query, variables) : sseSubscribe(fetch, server.graphqlUrl, query, variables);
  }

  /** Rows of the events, failing on any GraphQL error. */
  function rows(log: EventLog, field: string): Array<{ state: string; version: number; result: unknown }> {
    return log.events.map((event) => {
      assert.equal(event.errors, undefined, JSON.stringify(event.errors));
      return event.data![field];
    });
  }

  function assertEveryVersionInOrder(list: Array<{ version: number }>): void {
    for (let i = 1; i < list.length; i++) assert.equal(list[i]!.version, list[i - 1]!.version + 1, `versions ${list.map((r) => r.version)}`);
  }

  for (const transport of ['graphql-ws', 'SSE'] as const) {
    describe(transport, () => {
      it('sends the snapshot, then every later version in order without duplicates, and completes after the terminal one', async () => {
        const key = `every-${transport}`;
        const execution = (await engine.senpuki.submit('gated', [key])).execution;
        const executionSub = subscribe(transport, EXECUTION_UPDATED, { id: execution.id });
        const taskSub = subscribe(transport, TASK_UPDATED, { id: execution.rootTaskId });
        await waitFor(() => rows(executionSub.log, 'executionUpdated').some((row) => row.state === 'RUNNING'), { message: 'the RUNNING version' });
        await waitFor(() => rows(taskSub.log, 'taskUpdated').some((row) => row.state === 'RUNNING'), { message: 'the RUNNING task' });
        gates.open(key);
        await executionSub.log.waitForEnd();
        await taskSub.log.waitForEnd();
        for (const [log, field] of [[executionSub.log, 'executionUpdated'], [taskSub.log, 'taskUpdated']] as const) {
          assert.equal(log.failure, undefined);
          assert.equal(log.completed, true);
          const list = rows(log, field);
          assert.deepEqual(list.map((row) => row.state), list[0]!.state === 'PENDING' ? ['PENDING', 'RUNNING', 'COMPLETED'] : ['RUNNING', 'COMPLETED']);
          assertEveryVersionInOrder(list);
          assert.equal(list.at(-1)!.result, key);
        }
      });

      it('sends the terminal snapshot at once and completes when subscribing after the end', async () => {
        const key = `late-${transport}`;
        gates.open(key);
        const id = await engine.senpuki.dispatch('gated', [key]);
        await engine.senpuki.waitFor(id, { timeoutMs: 10_000 });
        // Version 3 (pending, running, completed), or 2 when the idle worker took the dispatch at once.
        const { version } = await engine.senpuki.stateOf(id);
        const { log } = subscribe(transport, EXECUTION_UPDATED, { id });
        await log.waitForEnd();
        assert.deepEqual(rows(log, 'executionUpdated').map((row) => [row.state, row.version]), [['COMPLETED', version]]);
        assert.equal(log.completed, true);
      });

      it('sends nothing the client already has when resubscribing with since', async () => {
        const key = `since-${transport}`;
        const id = await engine.senpuki.dispatch('gated', [key]);
        const running = await waitFor(async () => {
          const execution = await engine.senpuki.stateOf(id);
          return execution.state === 'running' ? execution : undefined;
        }, { message: 'the execution to run' });
        const { log } = subscribe(transport, EXECUTION_UPDATED, { id, since: running.version });
        // The subscription is live (counted) but has nothing to send until the next version.
        await waitFor(() => server.app.activeSubscriptions >= 1, { message: 'the subscription to open' });
        gates.open(key);
        await log.waitForEnd();
        assert.deepEqual(rows(log, 'executionUpdated').map((row) => [row.state, row.version]), [['COMPLETED', running.version + 1]]);

        const again = subscribe(transport, EXECUTION_UPDATED, { id, since: running.version + 1 });
        await again.log.waitForEnd();
        assert.deepEqual(again.log.events, []);
        assert.equal(again.log.completed, true);
      });

      it('answers an unknown id with NOT_FOUND and a malformed one with BAD_USER_INPUT, then completes', async () => {
        for (const [query, id, code] of [
          [EXECUTION_UPDATED, UNKNOWN_ID, 'NOT_FOUND'],
          [TASK_UPDATED, UNKNOWN_ID, 'NOT_FOUND'],
          [EXECUTION_UPDATED, 'not-a-uuid', 'BAD_USER_INPUT'],
        ] as const) {
          const { log } = subscribe(transport, query, { id });
          await log.waitForEnd();
          assert.equal(log.events.length, 1);
          assert.equal(log.events[0]!.errors?.[0]?.extensions?.code, code);
          assert.equal(log.completed, true);
        }
      });

      it('sends every task of an execution, then each task change, and completes once the execution and its tasks are done', async () => {
        const [a, b] = [`tasks-a-${transport}`, `tasks-b-${transport}`];
        const execution = (await engine.senpuki.submit('fanOut', [[a, b]])).execution;
        const { log } = subscribe(transport, EXECUTION_TASKS_UPDATED, { executionId: execution.id });
        const children = () => rows(log, 'executionTasksUpdated').filter((row: any) => row.parentId === execution.rootTaskId) as any[];
        await waitFor(() => new Set(children().filter((row) => row.state === 'RUNNING').map((row) => row.id)).size === 2, { message: 'both children running' });
        gates.open(a);
        await waitFor(() => children().some((row) => row.state === 'COMPLETED'), { message: 'a child completing' });
        gates.open(b);
        await log.waitForEnd();
        assert.equal(log.failure, undefined);
        const list = rows(log, 'executionTasksUpdated') as any[];
        const last = new Map(list.map((row) => [row.id, row]));
        assert.deepEqual([last.get(execution.rootTaskId).state, last.get(execution.rootTaskId).result], ['COMPLETED', [a, b]]);
        assert.deepEqual(children().filter((row) => row.state === 'COMPLETED').map((row) => row.result).sort(), [a, b]);
        assert.equal(last.size, 3);
        for (const id of last.keys()) assertEveryVersionInOrder(list.filter((row) => row.id === id));

        // Resuming after the highest changeSeq but one sends only the last change, then completes.
        const seqs = list.map((row) => BigInt(row.changeSeq)).sort((x, y) => (x < y ? -1 : 1));
        const again = subscribe(transport, EXECUTION_TASKS_UPDATED, { executionId: execution.id, since: String(seqs.at(-2)) });
        await again.log.waitForEnd();
        assert.deepEqual(rows(again.log, 'executionTasksUpdated').map((row: any) => [row.id, row.state]), [[execution.rootTaskId, 'COMPLETED']]);
        assert.equal(again.log.completed, true);

        for (const [variables, code] of [
          [{ executionId: UNKNOWN_ID }, 'NOT_FOUND'],
          [{ executionId: execution.id, since: 'latest' }, 'BAD_USER_INPUT'],
        ] as const) {
          const failed = subscribe(transport, EXECUTION_TASKS_UPDATED, variables);
          await failed.log.waitForEnd();
          assert.equal(failed.log.events[0]?.errors?.[0]?.extensions?.code, code);
        }
      });

      it('frees the server-side subscription and its channel when the client unsubscribes', async () => {
        const key = `stop-${transport}`;
        const id = await engine.senpuki.dispatch('gated', [key]);
        const before = server.app.activeSubscriptions;
        const { log, stop } = subscribe(transport, EXECUTION_UPDATED, { id });
        await log.waitForEvents(1);
        assert.equal(server.app.activeSubscriptions, before + 1);
        stop();
        await waitFor(() => server.app.activeSubscriptions === before, { message: 'the server to drop the subscription' });
        gates.open(key);
      });
    });
  }

  it('limits the subscriptions of one graphql-ws connection', async () => {
    const key = 'limit';
    const id = await engine.senpuki.dispatch('gated', [key]);
    const own = wsClient(server.graphqlUrl);
    try {
      const subs = [0, 1, 2].map(() => wsSubscribe(own, EXECUTION_UPDATED, { id }));
      await Promise.all(subs.map((sub) => sub.log.waitForEvents(1)));
      const fourth = wsSubscribe(own, EXECUTION_UPDATED, { id });
      await fourth.log.waitForEnd();
      const errors = fourth.log.failure as Array<{ message: string; extensions: { code: string } }>;
      assert.equal(errors[0]!.extensions.code, 'LIMIT_EXCEEDED');
      assert.match(errors[0]!.message, /already runs 3 operations.*limits\.maxSubscriptionsPerConnection/);
      for (const sub of subs) sub.stop();
    } finally {
      gates.open(key);
      await own.dispose();
    }
  });

  it('streams executionsUpdated for a filter, including the change that takes a row out of a state filter', async () => {
    await waitFor(() => server.app.activeSubscriptions === 0, { message: 'earlier subscriptions to end' });
    const all = wsSubscribe(client, `subscription { executionsUpdated(filter: { function: "gated" }) { id state version changeSeq } }`);
    const running = wsSubscribe(client, `subscription { executionsUpdated(filter: { function: "gated", state: [RUNNING] }) { id state version } }`);
    await waitFor(() => server.app.activeSubscriptions === 2, { message: 'the list subscriptions to open' });
    const key = 'list';
    const id = await engine.senpuki.dispatch('gated', [key]);
    await waitFor(() => running.log.events.some((e) => e.data?.executionsUpdated.id === id), { message: 'RUNNING in the filtered list' });
    gates.open(key);
    await waitFor(() => all.log.events.some((e) => e.data?.executionsUpdated.id === id && e.data.executionsUpdated.state === 'COMPLETED'), { message: 'COMPLETED in the list' });
    await waitFor(() => running.log.events.some((e) => e.data?.executionsUpdated.id === id && e.data.executionsUpdated.state === 'COMPLETED'), { message: 'the row leaving the RUNNING view' });
    const mine = all.log.events.map((e) => e.data!.executionsUpdated).filter((row) => row.id === id);
    assert.deepEqual(mine.map((row) => row.state).slice(-2), ['RUNNING', 'COMPLETED']);
    assertEveryVersionInOrder(mine);
    const filtered = running.log.events.map((e) => e.data!.executionsUpdated).filter((row) => row.id === id);
    assert.deepEqual(filtered.map((row) => row.state), ['RUNNING', 'COMPLETED']);

    // Resuming after the first change of this execution replays only what came after it.
    const since = mine[0]!.changeSeq;
    const resumed = wsSubscribe(client, `subscription($since: String) { executionsUpdated(filter: { function: "gated" }, since: $since) { id state version } }`, { since });
    await waitFor(() => resumed.log.events.some((e) => e.data?.executionsUpdated.id === id), { message: 'the resumed feed to catch up' });
    const replayed = resumed.log.events.map((e) => e.data!.executionsUpdated).filter((row) => row.id === id);
    assert.deepEqual(replayed.map((row) => [row.state, row.version]), [['COMPLETED', mine.at(-1)!.version]]);
    for (const sub of [all, running, resumed]) sub.stop();
  });
});
