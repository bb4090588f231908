import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { once } from 'node:events';
import type { Client } from 'graphql-ws';
import type { Plugin } from 'graphql-yoga';
import WebSocket from 'ws';
import type { Worker } from '../server/engine/worker.js';
import { startServer, type SenpukiServer } from '../server/http/startServer.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { Gates } from './helpers/gates.js';
import { quietLogger } from './helpers/graphqlApp.js';
import { postGraphQL, sseSubscribe, wsClient, wsSubscribe } from './helpers/graphqlClients.js';

const API_KEY = 'test-key-0123456789';
const KEY = { authorization: `Bearer ${API_KEY}` };
const DISPATCH = `mutation($fn: String!, $args: JSON, $queue: String) {
  dispatch(input: { function: $fn, args: $args, queue: $queue }) { token tokenExpiresAt execution { id } }
}`;
/** `waitingReason` names the queues live workers take for a key holder only: it differs by scope. */
const EXECUTION_UPDATED = `subscription($id: ID!) { executionUpdated(id: $id) { id state version waitingReason } }`;

describe('multiplexed subscriptions: one execution per version, never across access scopes', () => {
  let engine: TestEngine;
  let server: SenpukiServer;
  let worker: Worker;
  const clients: Client[] = [];
  const gates = new Gates();
  let reasonReads = 0;

  const client = (authorization: string) => {
    const opened = wsClient(server.graphqlUrl, { authorization });
    clients.push(opened);
    return opened;
  };
  const dispatch = async (key: string, queue?: string) => {
    const { body } = await postGraphQL(fetch, server.graphqlUrl, DISPATCH, { fn: 'gated', args: [key], queue }, KEY);
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data.dispatch as { token: string; tokenExpiresAt: string; execution: { id: string } };
  };

  before(async () => {
    engine = await openEngine('pglite');
    engine.senpuki.durable('gated', async (_ctx, key: string) => gates.wait(key));
    // Counts executions of the selection set: `waitingReason` is resolved once per execution.
    const unservedReason = engine.senpuki.unservedReason.bind(engine.senpuki);
    engine.senpuki.unservedReason = (...args) => {
      reasonReads++;
      return unservedReason(...args);
    };
    server = await startServer({ senpuki: engine.senpuki, port: 0, apiKeys: [API_KEY], tokenTtlMs: 1500, logger: quietLogger, processMetrics: false });
    worker = await engine.senpuki.serve();
    // The waiting reason names live workers once this one is listed (the list is cached briefly).
    await waitFor(async () => (await engine.senpuki.liveWorkers()).length > 0, { message: 'the worker to be listed' });
  });
  after(async () => {
    gates.openAll();
    for (const opened of clients) await opened.dispose();
    await worker.stop();
    await server.close();
    await engine.close();
  });

  it('executes a new version once for subscribers in one scope, and apart for a read token', async () => {
    // No worker takes this queue: the execution stays PENDING with a waitingReason.
    const { token, execution } = await dispatch('never', 'unserved');
    const first = wsSubscribe(client(API_KEY), EXECUTION_UPDATED, { id: execution.id });
    const second = wsSubscribe(client(API_KEY), EXECUTION_UPDATED, { id: execution.id });
    // The same row, the same document and variables: only the scope differs.
    const viaToken = wsSubscribe(client(token), EXECUTION_UPDATED, { id: execution.id });
    for (const subscription of [first, second, viaToken]) await subscription.log.waitForEvents(1);
    assert.deepEqual(second.log.events[0], first.log.events[0]);
    assert.match(first.log.events[0]!.data.executionUpdated.waitingReason, /live workers take: default/);
    const tokenRow = viaToken.log.events[0]!.data.executionUpdated;
    assert.equal(tokenRow.version, first.log.events[0]!.data.executionUpdated.version);
    assert.match(tokenRow.waitingReason, /No live worker takes queue "unserved"/);
    assert.doesNotMatch(tokenRow.waitingReason, /live workers take:/, 'a key holder’s result must not reach a read token');

    // Over SSE the token's subscription is a request of its own, in the same scope as the socket's.
    const sse = sseSubscribe(fetch, server.graphqlUrl, EXECUTION_UPDATED, { id: execution.id }, { authorization: `Bearer ${token}` });
    await sse.log.waitForEvents(1);
    assert.deepEqual(sse.log.events[0], viaToken.log.events[0]);
    sse.stop();
    await waitFor(() => server.app.activeSubscriptions === 3, { message: 'the SSE subscription to end' });

    // One new version, read once for all three: one execution for the two key holders, one for the token.
    const readsBefore = reasonReads;
    const { body } = await postGraphQL(fetch, server.graphqlUrl, `mutation($id: ID!) { cancelExecution(id: $id) { execution { state } } }`, { id: execution.id }, KEY);
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    for (const subscription of [first, second, viaToken]) {
      await subscription.log.waitForEnd();
      assert.equal(subscription.log.events.at(-1)?.data?.executionUpdated.state, 'CANCELLED');
    }
    assert.equal(reasonReads - readsBefore, 2, 'the key holders share one execution of the new version; the read token has its own');
  });

  it('ends only the subscription whose read token expired; a key holder on the same row carries on', async () => {
    const { token, tokenExpiresAt, execution } = await dispatch('expiry');
    const keyed = wsSubscribe(client(API_KEY), EXECUTION_UPDATED, { id: execution.id });
    const expiring = wsSubscribe(client(token), EXECUTION_UPDATED, { id: execution.id });
    await keyed.log.waitForEvents(1);
    await expiring.log.waitForEvents(1);
    await expiring.log.waitForEnd();
    const failure = expiring.log.events.at(-1)!;
    assert.equal(failure.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    assert.ok(Date.now() >= new Date(tokenExpiresAt).getTime());
    assert.equal(keyed.log.completed, false, 'the key holder’s subscription is still open');
    gates.open('expiry');
    await keyed.log.waitForEnd();
    assert.equal(keyed.log.events.at(-1)?.data?.executionUpdated.state, 'COMPLETED');
    assert.equal(keyed.log.events.filter((event) => event.errors).length, 0);
  });

  it('keeps FORBIDDEN per subscription when another scope watches the row', async () => {
    const mine = await dispatch('mine');
    const theirs = await dispatch('theirs');
    const keyed = wsSubscribe(client(API_KEY), EXECUTION_UPDATED, { id: theirs.execution.id });
    await keyed.log.waitForEvents(1);
    const forbidden = wsSubscribe(client(mine.token), EXECUTION_UPDATED, { id: theirs.execution.id });
    await forbidden.log.waitForEnd();
    assert.equal(forbidden.log.events.length, 1);
    assert.equal(forbidden.log.events[0]?.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    assert.equal(forbidden.log.events[0]?.data ?? null, null);
    keyed.stop();
    gates.open('mine');
    gates.open('theirs');
  });

  it('keeps a shared subscription running for the others when the one that opened it leaves, and counts each', async () => {
    const { execution } = await dispatch('shared');
    const keyed = client(API_KEY);
    const opener = wsSubscribe(keyed, EXECUTION_UPDATED, { id: execution.id });
    await opener.log.waitForEvents(1);
    const others = [wsSubscribe(keyed, EXECUTION_UPDATED, { id: execution.id }), wsSubscribe(client(API_KEY), EXECUTION_UPDATED, { id: execution.id })];
    for (const other of others) await other.log.waitForEvents(1);
    assert.equal(server.app.activeSubscriptions, 3);
    assert.equal(engine.senpuki.feed.watchedRows, 1, 'one watcher for the row');
    opener.stop();
    await waitFor(() => server.app.activeSubscriptions === 2, { message: 'the opener to be uncounted' });
    gates.open('shared');
    for (const other of others) {
      await other.log.waitForEnd();
      assert.equal(other.log.events.at(-1)?.data?.executionUpdated.state, 'COMPLETED');
      const versions = other.log.events.map((event) => event.data!.executionUpdated.version as number);
      assert.deepEqual(versions, [...new Set(versions)].sort((a, b) => a - b), 'only newer versions');
    }
    await waitFor(() => server.app.activeSubscriptions === 0 && engine.senpuki.feed.watchedRows === 0, { message: 'everything freed' });
  });

  it('frees the row once the last subscriber of a shared subscription leaves', async () => {
    const { execution } = await dispatch('abandoned');
    const subscriptions = [wsSubscribe(client(API_KEY), EXECUTION_UPDATED, { id: execution.id }), wsSubscribe(client(API_KEY), EXECUTION_UPDATED, { id: execution.id })];
    for (const subscription of subscriptions) await subscription.log.waitForEvents(1);
    assert.equal(engine.senpuki.feed.watchedRows, 1);
    for (const subscription of subscriptions) subscription.stop();
    await waitFor(() => server.app.activeSubscriptions === 0 && engine.senpuki.feed.watchedRows === 0, { message: 'the row to be unwatched' });
    // A newcomer starts afresh and still gets its snapshot and the end.
    const late = wsSubscribe(client(API_KEY), EXECUTION_UPDATED, { id: execution.id });
    await late.log.waitForEvents(1);
    gates.open('abandoned');
    await late.log.waitForEnd();
    assert.equal(late.log.events.at(-1)?.data?.executionUpdated.state, 'COMPLETED');
  });

  it('shares a list feed without since between subscribers, each getting the changes from its joining on', async () => {
    const EXECUTIONS_UPDATED = `subscription($filter: ExecutionFilter) { executionsUpdated(filter: $filter) { id state version } }`;
    const filter = { function: 'gated' };
    const first = wsSubscribe(client(API_KEY), EXECUTIONS_UPDATED, { filter });
    await waitFor(() => server.app.activeSubscriptions === 1, { message: 'the first list subscription' });
    const before = await dispatch('list-before');
    await first.log.waitForEvents(1);
    const second = wsSubscribe(client(API_KEY), EXECUTIONS_UPDATED, { filter });
    await waitFor(() => server.app.activeSubscriptions === 2, { message: 'the second list subscription' });
    const after = await dispatch('list-after');
    gates.open('list-after');
    const completed = (log: typeof first.log, id: string) => log.events.some((event) => event.data?.executionsUpdated.id === id && event.data.executionsUpdated.state === 'COMPLETED');
    await waitFor(() => completed(first.log, after.execution.id) && completed(second.log, after.execution.id), { message: 'both to see the later execution complete' });
    const idsOf = (log: typeof first.log) => new Set(log.events.map((event) => event.data?.executionsUpdated.id));
    assert.ok(idsOf(first.log).has(before.execution.id));
    assert.equal(idsOf(second.log).has(before.execution.id), false, 'nothing from before the second joined');
    for (const log of [first.log, second.log]) {
      const versions = log.events.filter((event) => event.data?.executionsUpdated.id === after.execution.id).map((event) => event.data!.executionsUpdated.version as number);
      assert.deepEqual(versions, [...new Set(versions)].sort((a, b) => a - b), 'every change once, in order');
    }
    first.stop();
    second.stop();
    gates.open('list-before');
    await waitFor(() => server.app.activeSubscriptions === 0, { message: 'both uncounted' });
  });

  it('closes a connection that reuses the id of a subscription still running (4409), as for any operation', async () => {
    const { execution } = await dispatch('duplicate-id');
    const socket = new WebSocket(server.graphqlUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
    await once(socket, 'open');
    const messages: Array<{ type: string; id?: string }> = [];
    socket.on('message', (data) => messages.push(JSON.parse(String(data))));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: API_KEY } }));
    await waitFor(() => messages.some((message) => message.type === 'connection_ack'), { message: 'the connection to be acknowledged' });
    const subscribe = JSON.stringify({ id: 'same', type: 'subscribe', payload: { query: EXECUTION_UPDATED, variables: { id: execution.id } } });
    socket.send(subscribe);
    await waitFor(() => messages.some((message) => message.type === 'next' && message.id === 'same'), { message: 'the snapshot' });
    const closed = once(socket, 'close');
    socket.send(subscribe);
    const [code, reason] = (await closed) as [number, Buffer];
    assert.equal(code, 4409);
    assert.match(String(reason), /Subscriber for same already exists/);
    await waitFor(() => server.app.activeSubscriptions === 0 && engine.senpuki.feed.watchedRows === 0, { message: 'the closed connection’s subscription to be freed' });
    gates.open('duplicate-id');
  });
});

describe('an application’s own Yoga plugins see the subscriptions', () => {
  let engine: TestEngine;
  let server: SenpukiServer;
  let worker: Worker;
  const gates = new Gates();
  const subscribed: string[] = [];

  before(async () => {
    engine = await openEngine('pglite');
    engine.senpuki.durable('gated', async (_ctx, key: string) => gates.wait(key));
    const audit: Plugin = {
      onSubscribe({ args }) {
        subscribed.push(String(args.variableValues?.id));
      },
    };
    server = await startServer({ senpuki: engine.senpuki, port: 0, logger: quietLogger, processMetrics: false, plugins: [audit] });
    worker = await engine.senpuki.serve();
  });
  after(async () => {
    gates.openAll();
    await worker.stop();
    await server.close();
    await engine.close();
  });

  it('runs a graphql-ws subscription to a row through Yoga when the application adds plugins', async () => {
    const id = await engine.senpuki.dispatch('gated', ['plugin']);
    const client = wsClient(server.graphqlUrl);
    try {
      const subscription = wsSubscribe(client, EXECUTION_UPDATED, { id });
      await subscription.log.waitForEvents(1);
      assert.deepEqual(subscribed, [id], 'the plugin saw the subscription');
      gates.open('plugin');
      await subscription.log.waitForEnd();
      assert.equal(subscription.log.events.at(-1)?.data?.executionUpdated.state, 'COMPLETED');
    } finally {
      await client.dispose();
    }
  });
});
