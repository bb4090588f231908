import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineDurable } from '../server/engine/registry.js';
import { serverConfigFromEnv } from '../server/http/config.js';
import { startServer } from '../server/http/startServer.js';
import { waitFor } from './helpers/conditions.js';
import { quietLogger } from './helpers/graphqlApp.js';
import { postGraphQL, sseSubscribe, wsClient, wsSubscribe } from './helpers/graphqlClients.js';

const SOCKET_HANDLES = new Set(['TCPServerWrap', 'TCPSocketWrap', 'TCPWrap', 'Timeout']);
const socketHandles = () => process.getActiveResourcesInfo().filter((type) => SOCKET_HANDLES.has(type)).length;

describe('startServer', () => {
  it('builds its own engine from config, and close() ends subscriptions, sockets and the engine, leaving no handle', async () => {
    const baseline = socketHandles();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const hold = defineDurable('hold', async () => gate);
    const server = await startServer({ engine: { dataDir: 'memory://', functions: [hold] }, port: 0, logger: quietLogger, processMetrics: false });
    const client = wsClient(server.graphqlUrl);
    try {
      const { body } = await postGraphQL(fetch, server.graphqlUrl, `mutation { dispatch(input: { function: "hold" }) { execution { id } } }`);
      const id = body.data.dispatch.execution.id;
      const ws = wsSubscribe(client, `subscription($id: ID!) { executionUpdated(id: $id) { state } }`, { id });
      const sse = sseSubscribe(fetch, server.graphqlUrl, `subscription($id: ID!) { executionUpdated(id: $id) { state } }`, { id });
      await ws.log.waitForEvents(1);
      await sse.log.waitForEvents(1);
      const graphiql = await fetch(server.graphqlUrl, { headers: { accept: 'text/html' } });
      assert.match(await graphiql.text(), /GraphiQL/);

      await server.close();
      // Subscriptions end with `complete`, not a broken stream, before the sockets close.
      assert.equal(ws.log.completed, true);
      await sse.log.waitForEnd();
      assert.equal(sse.log.completed, true);
      await assert.rejects(fetch(server.graphqlUrl), /fetch failed/);
      await assert.rejects(server.senpuki.store.getExecution(id), 'the engine the server built is closed');
      await server.close(); // idempotent
    } finally {
      release();
      await client.dispose();
      await server.close();
    }
    await waitFor(() => socketHandles() <= baseline, { message: `socket handles back to ${baseline} (${process.getActiveResourcesInfo()})` });
  });

  it('reads DATABASE_URL, REDIS_URL, PORT, HOST and keys from the environment', () => {
    assert.deepEqual(
      serverConfigFromEnv({
        DATABASE_URL: 'postgres://u@db/app',
        REDIS_URL: 'redis://cache:6379',
        PORT: '8080',
        HOST: '0.0.0.0',
        SENPUKI_API_KEYS: 'a, b,,',
        SENPUKI_TOKEN_SECRET: 's'.repeat(40),
      }),
      {
        engine: { databaseUrl: 'postgres://u@db/app', redisUrl: 'redis://cache:6379', dataDir: undefined },
        port: 8080,
        host: '0.0.0.0',
        apiKeys: ['a', 'b'],
        tokenSecret: 's'.repeat(40),
      },
    );
    assert.throws(() => serverConfigFromEnv({ PORT: 'eighty' }), /PORT must be an integer from 0 to 65535; got "eighty"/);
  });

  it('refuses a short token secret with a message saying how to make one', async () => {
    await assert.rejects(
      startServer({ engine: { dataDir: 'memory://' }, port: 0, tokenSecret: 'short', logger: quietLogger, processMetrics: false }),
      /tokenSecret must be at least 32 bytes; generate one with: openssl rand -base64 48/,
    );
  });
});
