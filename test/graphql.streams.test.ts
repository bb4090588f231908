import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '../server/engine/worker.js';
import { startServer, type SenpukiServer } from '../server/http/startServer.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { Gates } from './helpers/gates.js';
import { quietLogger } from './helpers/graphqlApp.js';
import { postGraphQL, sseSubscribe, wsClient, wsSubscribe, type EventLog } from './helpers/graphqlClients.js';

const API_KEY = 'stream-test-key-0123456789';
const KEY = { authorization: `Bearer ${API_KEY}` };
const DISPATCH = `mutation($fn: String!, $args: JSON) { dispatch(input: { function: $fn, args: $args }) { token execution { id } } }`;
const EXECUTION_STREAM = `subscription($executionId: ID!, $name: String!, $after: Int) {
  executionStream(executionId: $executionId, name: $name, after: $after) { closed chunks { seq run data } }
}`;
const STREAMS = `query($id: ID!) { execution(id: $id) { streams { name length closed run taskId } } }`;

interface StreamEventData {
  executionStream: { closed: boolean; chunks: Array<{ seq: number; run: number; data: unknown }> };
}

/** The chunks of every event received, in order. */
const chunksOf = (log: EventLog<StreamEventData>) => log.events.flatMap((event) => event.data?.executionStream.chunks ?? []);

describe('GraphQL executionStream and Execution.streams', () => {
  let engine: TestEngine;
  let server: SenpukiServer;
  let worker: Worker;
  const gates = new Gates();
  const gql = (query: string, variables?: Record<string, unknown>, headers: Record<string, string> = KEY) => postGraphQL(fetch, server.graphqlUrl, query, variables, headers);
  const dispatch = async (fn: string, args: unknown[]) => {
    const { body } = await gql(DISPATCH, { fn, args });
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data.dispatch as { token: string; execution: { id: string } };
  };

  before(async () => {
    engine = await openEngine('pglite');
    // Writes the words before the gate, waits, then the rest; the end of the task closes the stream.
    engine.senpuki.durable('gatedWords', async (ctx, key: string, before: string[], later: string[]) => {
      const out = ctx.stream<string>('answer');
      for (const word of before) await out.write(word);
      await gates.wait(key);
      for (const word of later) await out.write(word);
      await ctx.stream('log').write({ done: true });
      return null;
    });
    server = await startServer({ senpuki: engine.senpuki, port: 0, apiKeys: [API_KEY], logger: quietLogger, processMetrics: false });
    worker = await engine.senpuki.serve();
  });
  after(async () => {
    gates.openAll();
    await worker.stop();
    await server.close();
    await engine.close();
  });

  for (const transport of ['ws', 'sse'] as const) {
    it(`sends the chunks after \`after\`, the backlog first, then live, and completes when the stream closes (${transport})`, async () => {
      const key = `words-${transport}`;
      const { execution } = await dispatch('gatedWords', [key, ['a', 'b', 'c'], ['d', 'e']]);
      await waitFor(async () => (await engine.senpuki.listStreams(execution.id))[0]?.length === 3, { message: 'the backlog written' });
      const variables = { executionId: execution.id, name: 'answer', after: 1 };
      const client = wsClient(server.graphqlUrl, { authorization: KEY.authorization });
      const subscription = transport === 'ws' ? wsSubscribe<StreamEventData>(client, EXECUTION_STREAM, variables) : sseSubscribe<StreamEventData>(fetch, server.graphqlUrl, EXECUTION_STREAM, variables, KEY);
      try {
        const [backlog] = await subscription.log.waitForEvents(1);
        assert.deepEqual(backlog!.data!.executionStream, { closed: false, chunks: [{ seq: 2, run: 1, data: 'b' }, { seq: 3, run: 1, data: 'c' }] });
        gates.open(key);
        await subscription.log.waitForEnd();
        assert.equal(subscription.log.failure, undefined);
        assert.deepEqual(chunksOf(subscription.log).map((chunk) => [chunk.seq, chunk.data]), [[2, 'b'], [3, 'c'], [4, 'd'], [5, 'e']]);
        assert.equal(subscription.log.events.at(-1)!.data!.executionStream.closed, true);
        assert.ok(subscription.log.events.slice(0, -1).every((event) => !event.data!.executionStream.closed), 'only the last event says closed');
      } finally {
        subscription.stop();
        await client.dispose();
      }
    });
  }

  it('lists an execution\'s streams with their names, lengths and state', async () => {
    const { execution } = await dispatch('gatedWords', ['listed', ['x'], ['y']]);
    await waitFor(async () => (await gql(STREAMS, { id: execution.id })).body.data?.execution.streams.length === 1, { message: 'the first stream' });
    gates.open('listed');
    await engine.senpuki.waitFor(execution.id);
    const { body } = await gql(STREAMS, { id: execution.id });
    const root = (await engine.senpuki.stateOf(execution.id)).rootTaskId;
    assert.deepEqual(body.data.execution.streams, [
      { name: 'answer', length: 2, closed: true, run: 1, taskId: root },
      { name: 'log', length: 1, closed: true, run: 1, taskId: root },
    ]);
  });

  it('lets a read token follow its own execution\'s streams and refuses it another\'s (FORBIDDEN)', async () => {
    const mine = await dispatch('gatedWords', ['token-mine', ['mine'], []]);
    const theirs = await dispatch('gatedWords', ['token-theirs', ['theirs'], []]);
    const token = { authorization: `Bearer ${mine.token}` };
    const client = wsClient(server.graphqlUrl, token);
    try {
      const own = wsSubscribe<StreamEventData>(client, EXECUTION_STREAM, { executionId: mine.execution.id, name: 'answer' });
      await waitFor(() => chunksOf(own.log).length === 1, { message: 'the token\'s stream' });
      gates.open('token-mine');
      await own.log.waitForEnd();
      assert.deepEqual(chunksOf(own.log).map((chunk) => chunk.data), ['mine']);
      const listed = await gql(STREAMS, { id: mine.execution.id }, token);
      assert.deepEqual(listed.body.data.execution.streams.map((stream: { name: string }) => stream.name), ['answer', 'log']);

      const foreign = wsSubscribe<StreamEventData>(client, EXECUTION_STREAM, { executionId: theirs.execution.id, name: 'answer' });
      await foreign.log.waitForEnd();
      const error = foreign.log.events[0]?.errors?.[0] ?? (foreign.log.failure as Array<{ extensions?: { code?: string } }>)[0];
      assert.equal(error?.extensions?.code, 'FORBIDDEN');
      const sse = sseSubscribe(fetch, server.graphqlUrl, EXECUTION_STREAM, { executionId: theirs.execution.id, name: 'answer' }, token);
      assert.equal(await sse.status, 403);
    } finally {
      gates.open('token-theirs');
      await client.dispose();
    }
  });

  it('refuses a bad position, a bad name and an unknown execution with coded errors', async () => {
    const { execution } = await dispatch('gatedWords', ['refusals', [], []]);
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ executionId: execution.id, name: 'answer', after: -1 }, 'BAD_USER_INPUT', /after must be the last seq you have, an integer of at least 0/],
      [{ executionId: execution.id, name: '' }, 'BAD_USER_INPUT', /name must be a non-empty string/],
      [{ executionId: 'not-a-uuid', name: 'answer' }, 'BAD_USER_INPUT', /executionId must be a UUID/],
      [{ executionId: '00000000-0000-4000-8000-000000000000', name: 'answer' }, 'NOT_FOUND', /No execution with id/],
    ];
    const client = wsClient(server.graphqlUrl, { authorization: KEY.authorization });
    try {
      for (const [variables, code, message] of cases) {
        const { log } = wsSubscribe(client, EXECUTION_STREAM, variables);
        await log.waitForEnd();
        const error = log.events[0]?.errors?.[0] ?? (log.failure as Array<{ message: string; extensions?: { code?: string } }>)[0];
        assert.equal(error?.extensions?.code, code, JSON.stringify(variables));
        assert.match(error!.message, message);
      }
    } finally {
      gates.open('refusals');
      await client.dispose();
    }
  });
});
