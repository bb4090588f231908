import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Worker } from '../server/engine/worker.js';
import { startServer, type SenpukiServer } from '../server/http/startServer.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { Gates } from './helpers/gates.js';
import { quietLogger } from './helpers/graphqlApp.js';
import { postGraphQL, sseSubscribe, wsClient, wsSubscribe } from './helpers/graphqlClients.js';

const API_KEY = 'test-key-0123456789';
const KEY = { authorization: `Bearer ${API_KEY}` };
const DISPATCH = `mutation($fn: String!, $args: JSON) { dispatch(input: { function: $fn, args: $args }) { token tokenExpiresAt execution { id rootTask { id } } } }`;
const EXECUTION = `query($id: ID!) { execution(id: $id) { id state } }`;
const EXECUTION_UPDATED = `subscription($id: ID!) { executionUpdated(id: $id) { id state version } }`;
const EXECUTION_TASKS_UPDATED = `subscription($executionId: ID!) { executionTasksUpdated(executionId: $executionId) { id state } }`;

describe('API keys and read tokens', () => {
  let engine: TestEngine;
  let server: SenpukiServer;
  let worker: Worker;
  const gates = new Gates();
  const gql = (query: string, variables?: Record<string, unknown>, headers?: Record<string, string>) =>
    postGraphQL(fetch, server.graphqlUrl, query, variables, headers);
  const dispatch = async (key: string) => {
    const { body } = await gql(DISPATCH, { fn: 'gated', args: [key] }, KEY);
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data.dispatch as { token: string; tokenExpiresAt: string; execution: { id: string; rootTask: { id: string } } };
  };

  before(async () => {
    engine = await openEngine('pglite');
    engine.senpuki.durable('gated', async (_ctx, key: string) => gates.wait(key));
    server = await startServer({ senpuki: engine.senpuki, port: 0, apiKeys: [API_KEY], tokenTtlMs: 2000, logger: quietLogger, processMetrics: false });
    worker = await engine.senpuki.serve();
  });
  after(async () => {
    gates.openAll();
    await worker.stop();
    await server.close();
    await engine.close();
  });

  it('answers UNAUTHENTICATED (HTTP 401) without a valid key when keys are configured', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /This server needs an API key: send the header "Authorization: Bearer <key>"/],
      [{ authorization: 'Bearer wrong-key' }, /Unknown API key/],
      [{ authorization: API_KEY }, /Authorization must look like "Bearer <API key or read token>"/],
      [{ authorization: 'Bearer aaa.bbb.ccc' }, /The bearer token is not valid here/],
    ];
    for (const [headers, message] of cases) {
      const { status, body } = await gql(`{ functions { name } }`, undefined, headers);
      assert.equal(status, 401);
      assert.equal(body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
      assert.match(body.errors![0]!.message, message);
      assert.equal(body.errors![0]!.extensions!.http, undefined);
    }
    const ok = await gql(`{ functions { name } }`, undefined, KEY);
    assert.deepEqual(ok.body.data, { functions: [{ name: 'gated' }] });
  });

  it('closes a graphql-ws connection without a key with 4401 and the reason', async () => {
    const client = wsClient(server.graphqlUrl);
    try {
      const { log } = wsSubscribe(client, `{ functions { name } }`);
      await log.waitForEnd();
      const closed = log.failure as { code: number; reason: string };
      assert.equal(closed.code, 4401);
      assert.match(closed.reason, /^Unauthorized: This server needs an API key/);
    } finally {
      await client.dispose();
    }
    const keyed = wsClient(server.graphqlUrl, { authorization: API_KEY });
    try {
      const { log } = wsSubscribe(keyed, `{ functions { name } }`);
      await log.waitForEnd();
      assert.deepEqual(log.events, [{ data: { functions: [{ name: 'gated' }] } }]);
    } finally {
      await keyed.dispose();
    }
  });

  it('lets a read token read and subscribe to its execution only; anything else is FORBIDDEN', async () => {
    const a = await dispatch('token-a');
    const b = await dispatch('token-b');
    const asA = { authorization: `Bearer ${a.token}` };

    assert.equal((await gql(EXECUTION, { id: a.execution.id }, asA)).body.data.execution.id, a.execution.id);
    const task = await gql(`query($id: ID!) { task(id: $id) { id execution { id } } }`, { id: a.execution.rootTask.id }, asA);
    assert.equal(task.body.data.task.execution.id, a.execution.id);

    const forbidden: Array<[string, Record<string, unknown>, RegExp]> = [
      [EXECUTION, { id: b.execution.id }, /This read token is for execution .* only; it cannot read execution/],
      [`query($id: ID!) { task(id: $id) { id } }`, { id: b.execution.rootTask.id }, /This read token is for execution/],
      [`{ executions { totalCount } }`, {}, /executions needs an API key; this read token may only read execution/],
      [`{ functions { name } }`, {}, /functions needs an API key/],
      [DISPATCH, { fn: 'gated', args: ['x'] }, /dispatch needs an API key/],
      [`mutation($id: ID!) { cancelExecution(id: $id) { execution { id } } }`, { id: a.execution.id }, /cancelExecution needs an API key/],
      [`mutation($id: ID!) { discardDeadLetter(id: $id) { id } }`, { id: a.execution.id }, /discardDeadLetter needs an API key/],
      [`{ changeCursor }`, {}, /changeCursor needs an API key/],
    ];
    for (const [query, variables, message] of forbidden) {
      const { status, body } = await gql(query, variables, asA);
      assert.equal(status, 200);
      assert.equal(body.errors?.[0]?.extensions?.code, 'FORBIDDEN', query);
      assert.match(body.errors![0]!.message, message);
    }

    const client = wsClient(server.graphqlUrl, { authorization: a.token });
    try {
      const mine = wsSubscribe(client, EXECUTION_UPDATED, { id: a.execution.id });
      const theirs = wsSubscribe(client, EXECUTION_UPDATED, { id: b.execution.id });
      const myTasks = wsSubscribe(client, EXECUTION_TASKS_UPDATED, { executionId: a.execution.id });
      const theirTasks = sseSubscribe(fetch, server.graphqlUrl, EXECUTION_TASKS_UPDATED, { executionId: b.execution.id }, asA);
      const theirsSse = sseSubscribe(fetch, server.graphqlUrl, EXECUTION_UPDATED, { id: b.execution.id }, asA);
      const mineSse = sseSubscribe(fetch, server.graphqlUrl, EXECUTION_UPDATED, { id: a.execution.id }, asA);
      for (const log of [theirs.log, theirsSse.log, theirTasks.log]) {
        await log.waitForEnd();
        assert.equal(log.events[0]?.errors?.[0]?.extensions?.code, 'FORBIDDEN');
      }
      await mine.log.waitForEvents(1);
      await mineSse.log.waitForEvents(1);
      await myTasks.log.waitForEvents(1);
      gates.open('token-a');
      await mine.log.waitForEnd();
      await mineSse.log.waitForEnd();
      await myTasks.log.waitForEnd();
      for (const log of [mine.log, mineSse.log]) assert.equal(log.events.at(-1)?.data?.executionUpdated.state, 'COMPLETED');
      assert.deepEqual(myTasks.log.events.at(-1)?.data?.executionTasksUpdated, { id: a.execution.rootTask.id, state: 'COMPLETED' });
    } finally {
      gates.open('token-b');
      await client.dispose();
    }
  });

  it('ends a subscription with UNAUTHENTICATED when its read token expires', async () => {
    const { token, tokenExpiresAt, execution } = await dispatch('expiring');
    const client = wsClient(server.graphqlUrl, { authorization: `Bearer ${token}` });
    try {
      const ws = wsSubscribe(client, EXECUTION_UPDATED, { id: execution.id });
      const sse = sseSubscribe(fetch, server.graphqlUrl, EXECUTION_UPDATED, { id: execution.id }, { authorization: `Bearer ${token}` });
      for (const log of [ws.log, sse.log]) {
        await log.waitForEnd(10_000);
        assert.equal(log.completed, true);
        const last = log.events.at(-1)!;
        assert.equal(last.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
        assert.match(last.errors![0]!.message, /The read token expired at/);
        assert.ok(Date.now() >= Date.parse(tokenExpiresAt));
      }
      const later = await gql(EXECUTION, { id: execution.id }, { authorization: `Bearer ${token}` });
      assert.equal(later.status, 401);
      assert.match(later.body.errors![0]!.message, /The read token expired at/);
      await waitFor(() => server.app.activeSubscriptions === 0, { message: 'expired subscriptions to close' });
    } finally {
      gates.open('expiring');
      await client.dispose();
    }
  });

  it('keeps /metrics behind the API key', async () => {
    assert.equal((await fetch(`${server.url}/metrics`)).status, 401);
    const response = await fetch(`${server.url}/metrics`, { headers: KEY });
    assert.equal(response.status, 200);
    assert.match(await response.text(), /senpuki_graphql_ws_connections/);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });
});

describe('without API keys', () => {
  it('allows everything, and warns when listening on a non-loopback address', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const engine = await openEngine('pglite');
    engine.senpuki.durable('noop', async () => null);
    const server = await startServer({ senpuki: engine.senpuki, host: '0.0.0.0', port: 0, logger, processMetrics: false });
    try {
      const { body } = await postGraphQL(fetch, server.graphqlUrl.replace('0.0.0.0', '127.0.0.1'), `{ functions { name } }`);
      assert.deepEqual(body.data, { functions: [{ name: 'noop' }] });
      assert.equal(lines.length, 1);
      assert.match(JSON.parse(lines[0]!).msg, /No API keys are configured and the server listens on a non-loopback address/);
    } finally {
      await server.close();
      await engine.close();
    }
    const local = await openEngine('pglite');
    const quiet = await startServer({ senpuki: local.senpuki, port: 0, logger, processMetrics: false });
    await quiet.close();
    await local.close();
    assert.equal(lines.length, 1, 'no warning on loopback');
  });
});
