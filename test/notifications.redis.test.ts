import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { NotificationTimeoutError } from '../server/notifications/backend.js';
import { RedisBackend, type RedisBackendOptions } from '../server/notifications/redisBackend.js';
import { take, waitFor } from './helpers/conditions.js';
import { startFreezableProxy } from './helpers/freezableProxy.js';
import { hasRedisServerBinary, startRedisServer } from './helpers/redisServer.js';
import { redisUrl, requireRedis } from './helpers/services.js';

/** A connection name unique to one test, so CLIENT LIST counts only our connections. */
const uniqueName = () => `senpuki-test-${randomUUID().slice(0, 8)}`;

/** A raw ioredis client for checking what the server sees; closed by the test. */
function rawClient(t: TestContext, url = redisUrl): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  t.after(() => client.disconnect());
  return client;
}

function backend(t: TestContext, url = redisUrl, options: RedisBackendOptions = {}): RedisBackend {
  const created = new RedisBackend(url, { connectionName: uniqueName(), ...options });
  t.after(() => created.close());
  return created;
}

async function numsub(client: Redis, channel: string): Promise<number> {
  const reply = (await client.pubsub('NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

/** Starts consuming `iterable` and resolves with everything it yields once `channel` is subscribed. */
async function consumeOnceSubscribed<T>(
  iterable: AsyncIterable<T>,
  raw: Redis,
  channel: string,
): Promise<{ done: Promise<T[]> }> {
  const done = (async () => {
    const values: T[] = [];
    for await (const value of iterable) values.push(value);
    return values;
  })();
  done.catch(() => {}); // observed by the caller; avoids an unhandled rejection meanwhile
  await waitFor(async () => (await numsub(raw, channel)) === 1, { message: `SUBSCRIBE ${channel}` });
  return { done };
}

describe('RedisBackend', () => {
  test('notifyTaskCompleted publishes the spec message, byte for byte as json.dumps writes it, on senpuki:task:{id}', async (t) => {
    if (!(await requireRedis(t))) return;
    const raw = rawClient(t);
    const notifications = backend(t);
    const taskId = randomUUID();
    const received: Array<[string, string]> = [];
    await raw.subscribe(`senpuki:task:${taskId}`);
    raw.on('message', (channel: string, message: string) => received.push([channel, message]));

    await notifications.notifyTaskCompleted(taskId);
    await waitFor(() => received.length === 1, { message: 'the raw subscriber to get the message' });
    assert.deepEqual(received, [[`senpuki:task:${taskId}`, `{"task_id": "${taskId}", "state": "completed"}`]]);
  });

  test('notifyExecutionUpdated publishes the spec message on senpuki:execution:{id}', async (t) => {
    if (!(await requireRedis(t))) return;
    const raw = rawClient(t);
    const notifications = backend(t);
    const executionId = randomUUID();
    const received: string[] = [];
    await raw.subscribe(`senpuki:execution:${executionId}`);
    raw.on('message', (_channel: string, message: string) => received.push(message));

    await notifications.notifyExecutionUpdated(executionId, 'cancelled');
    await waitFor(() => received.length === 1, { message: 'the raw subscriber to get the message' });
    assert.equal(received[0], `{"execution_id": "${executionId}", "state": "cancelled"}`);
  });

  test('a raw PUBLISH in the spec format (as Python json.dumps writes it) reaches subscribeToTask', async (t) => {
    if (!(await requireRedis(t))) return;
    const raw = rawClient(t);
    const notifications = backend(t);
    const taskId = randomUUID();
    const channel = `senpuki:task:${taskId}`;
    const { done } = await consumeOnceSubscribed(notifications.subscribeToTask(taskId), raw, channel);

    await raw.publish(channel, `{"task_id": "${taskId}", "state": "completed"}`);
    assert.deepEqual(await done, [{ task_id: taskId, state: 'completed' }]);
  });

  for (const terminal of ['completed', 'failed'] as const) {
    test(`a task stream ends after "${terminal}" and unsubscribes`, async (t) => {
      if (!(await requireRedis(t))) return;
      const raw = rawClient(t);
      const notifications = backend(t);
      const taskId = randomUUID();
      const channel = `senpuki:task:${taskId}`;
      const { done } = await consumeOnceSubscribed(notifications.subscribeToTask(taskId), raw, channel);

      await notifications.notifyTaskUpdated(taskId, 'running');
      await notifications.notifyTaskUpdated(taskId, terminal);
      await notifications.notifyTaskUpdated(taskId, 'running');
      assert.deepEqual(await done, [
        { task_id: taskId, state: 'running' },
        { task_id: taskId, state: terminal },
      ]);
      await waitFor(async () => (await numsub(raw, channel)) === 0, { message: 'UNSUBSCRIBE' });
      // Redis counts the channel gone once it has run UNSUBSCRIBE, a moment before its reply reaches the backend.
      await waitFor(() => notifications.subscribedChannelCount === 0, { message: 'the UNSUBSCRIBE confirmed to the backend' });
    });
  }

  for (const terminal of ['completed', 'failed', 'timed_out', 'cancelled'] as const) {
    test(`an execution stream ends after "${terminal}"`, async (t) => {
      if (!(await requireRedis(t))) return;
      const raw = rawClient(t);
      const notifications = backend(t);
      const executionId = randomUUID();
      const channel = `senpuki:execution:${executionId}`;
      const { done } = await consumeOnceSubscribed(notifications.subscribeToExecution(executionId), raw, channel);

      await notifications.notifyExecutionUpdated(executionId, 'running');
      await notifications.notifyExecutionUpdated(executionId, terminal);
      assert.deepEqual(await done, [
        { execution_id: executionId, state: 'running' },
        { execution_id: executionId, state: terminal },
      ]);
    });
  }

  test('a stream without a terminal message ends with NotificationTimeoutError after its expiry', async (t) => {
    if (!(await requireRedis(t))) return;
    const raw = rawClient(t);
    const notifications = backend(t);
    const taskId = randomUUID();
    const stream = notifications.subscribeToTask(taskId, { expiry: 0.2 });
    await assert.rejects(take(stream, 1), NotificationTimeoutError);
    assert.equal(await numsub(raw, `senpuki:task:${taskId}`), 0);
  });

  test('a user:password URL authenticates as that ACL user', async (t) => {
    if (!(await requireRedis(t))) return;
    const raw = rawClient(t);
    const user = `senpuki_test_${randomUUID().slice(0, 8)}`;
    const password = `p@ss/${randomUUID()}`;
    await raw.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all');
    const { hostname, port } = new URL(redisUrl);
    const notifications = new RedisBackend(`redis://${user}:${encodeURIComponent(password)}@${hostname}:${port || 6379}`);
    try {
      const taskId = randomUUID();
      const channel = `senpuki:task:${taskId}`;
      const { done } = await consumeOnceSubscribed(notifications.subscribeToTask(taskId), raw, channel);
      await notifications.notifyTaskCompleted(taskId);
      assert.deepEqual(await done, [{ task_id: taskId, state: 'completed' }]);
      const ours = String(await raw.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(` user=${user} `));
      assert.equal(ours.length, 2);
    } finally {
      // Close before deleting the user: DELUSER drops its connections and they would retry.
      await notifications.close();
      await raw.call('ACL', 'DELUSER', user);
    }
  });

  test('a wrong password makes listen reject and publish resolve, both quickly', async (t) => {
    if (!(await requireRedis(t))) return;
    const raw = rawClient(t);
    const user = `senpuki_test_${randomUUID().slice(0, 8)}`;
    await raw.call('ACL', 'SETUSER', user, 'on', '>right', '~*', '&*', '+@all');
    const { hostname, port } = new URL(redisUrl);
    const notifications = new RedisBackend(`redis://${user}:wrong@${hostname}:${port || 6379}`);
    try {
      const publishErrors: unknown[] = [];
      notifications.onPublishError = (error) => publishErrors.push(error);
      const started = Date.now();
      await assert.rejects(notifications.listen('senpuki:task:x', () => {}));
      await notifications.notifyTaskCompleted(randomUUID());
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started}ms`);
      assert.equal(publishErrors.length, 1);
    } finally {
      await notifications.close();
      await raw.call('ACL', 'DELUSER', user);
    }
  });

  test('a /db URL selects that database on both connections', async (t) => {
    if (!(await requireRedis(t))) return;
    const raw = rawClient(t);
    const name = uniqueName();
    const base = redisUrl.replace(/\/\d*$/, '');
    const notifications = backend(t, `${base}/5`, { connectionName: name });
    const taskId = randomUUID();
    const { done } = await consumeOnceSubscribed(notifications.subscribeToTask(taskId), raw, `senpuki:task:${taskId}`);
    await notifications.notifyTaskCompleted(taskId);
    assert.deepEqual(await done, [{ task_id: taskId, state: 'completed' }]);

    const ours = String(await raw.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=${name}:`));
    assert.equal(ours.length, 2);
    for (const line of ours) assert.match(line, / db=5 /);
  });

  test('a :password URL authenticates the default user (own redis-server with requirepass)', async (t) => {
    if (!(await requireRedis(t))) return;
    if (!(await hasRedisServerBinary())) return void t.skip('redis-server binary not found');
    const server = await startRedisServer({ args: ['--requirepass', 'top secret'], password: 'top secret' });
    t.after(() => server.stop());
    const raw = rawClient(t, `redis://:top%20secret@127.0.0.1:${server.port}`);
    const notifications = backend(t, `redis://:top%20secret@127.0.0.1:${server.port}`);
    const taskId = randomUUID();
    const { done } = await consumeOnceSubscribed(notifications.subscribeToTask(taskId), raw, `senpuki:task:${taskId}`);
    await notifications.notifyTaskCompleted(taskId);
    assert.deepEqual(await done, [{ task_id: taskId, state: 'completed' }]);
  });

  {
    const COUNT = 10_000;
    test(`${COUNT} concurrent task subscriptions share ONE subscriber connection and all unsubscribe`, async (t) => {
      if (!(await requireRedis(t))) return;
      const raw = rawClient(t);
      const name = uniqueName();
      const notifications = backend(t, redisUrl, { connectionName: name });
      const prefix = randomUUID().slice(0, 8);
      const ids = Array.from({ length: COUNT }, (_, i) => `${prefix}-${i}`);
      const streams = ids.map((id) => notifications.subscribeToTask(id)[Symbol.asyncIterator]());
      const firsts = streams.map((stream) => stream.next());

      await waitFor(() => notifications.subscribedChannelCount === COUNT, { message: `${COUNT} confirmed channels` });
      const channels = (await raw.pubsub('CHANNELS', `senpuki:task:${prefix}-*`)) as string[];
      assert.equal(channels.length, COUNT);
      const subscribers = String(await raw.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(` name=${name}:subscriber `));
      assert.equal(subscribers.length, 1);
      assert.match(subscribers[0]!, new RegExp(` sub=${COUNT} `));

      await Promise.all(ids.map((id) => notifications.notifyTaskCompleted(id)));
      const messages = await Promise.all(firsts);
      assert.ok(messages.every((result, i) => !result.done && result.value.task_id === ids[i]));
      const ends = await Promise.all(streams.map((stream) => stream.next()));
      assert.ok(ends.every((result) => result.done));

      await waitFor(
        async () => ((await raw.pubsub('CHANNELS', `senpuki:task:${prefix}-*`)) as string[]).length === 0,
        { message: 'every channel unsubscribed on the server' },
      );
      assert.equal(notifications.listenerCount, 0);
      // The server has answered every UNSUBSCRIBE; the client counts a channel off when it reads the answer.
      await waitFor(() => notifications.subscribedChannelCount === 0, { message: 'every unsubscription confirmed here' });
    });
  }

  test('a listen racing the last unlisten of its channel always ends up subscribed on the server', async (t) => {
    if (!(await requireRedis(t))) return;
    const raw = rawClient(t);
    const notifications = backend(t);
    const channel = `senpuki:task:${randomUUID()}`;
    for (let round = 0; round < 200; round++) {
      const unlisten = await notifications.listen(channel, () => {});
      unlisten();
      // Vary how far the UNSUBSCRIBE got (not sent, written, answered) before the next listen.
      for (let i = 0; i < round % 4; i++) await new Promise((resolve) => setImmediate(resolve));
      const received: string[] = [];
      const again = await notifications.listen(channel, (payload) => received.push(payload));
      assert.equal(await numsub(raw, channel), 1, `round ${round}`);
      await raw.publish(channel, `m${round}`);
      await waitFor(() => received.length === 1, { message: `message of round ${round}` });
      again();
    }
    await waitFor(async () => (await numsub(raw, channel)) === 0, { message: 'the final UNSUBSCRIBE' });
    await waitFor(() => notifications.subscribedChannelCount === 0, { message: 'the UNSUBSCRIBE confirmed to the backend' });
  });

  test('a subscriber connection that goes silent is detected by its heartbeat and re-subscribed', async (t) => {
    if (!(await requireRedis(t))) return;
    const proxy = await startFreezableProxy(new URL(redisUrl), 6379);
    t.after(() => proxy.close());
    const notifications = backend(t, proxy.url, { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 300 });
    let reconnects = 0;
    notifications.addConnectionListener((connected) => connected && reconnects++);
    const taskId = randomUUID();
    const iterator = notifications.subscribeToTask(taskId)[Symbol.asyncIterator]();
    const first = iterator.next();
    await waitFor(() => notifications.subscribedChannelCount === 1, { message: 'SUBSCRIBE' });

    proxy.freeze();
    await waitFor(() => reconnects >= 1, { message: 'the heartbeat to replace the silent connection' });
    // On a loaded machine a slow PING may drop the new connection too; a message published while
    // it is down is lost (messages are hints), so publish until one arrives.
    const raw = rawClient(t);
    let received: IteratorResult<unknown> | undefined;
    void first.then((result) => (received = result));
    await waitFor(
      async () => {
        if (received) return received;
        await raw.publish(`senpuki:task:${taskId}`, JSON.stringify({ task_id: taskId, state: 'completed' }));
        return undefined;
      },
      { intervalMs: 100, message: 'a message through the replacement connection' },
    );
    assert.deepEqual(received, { done: false, value: { task_id: taskId, state: 'completed' } });
    await iterator.return?.();
  });

  test('while Redis is unreachable, publish resolves quickly and listen rejects quickly', async (t) => {
    const publishErrors: unknown[] = [];
    const notifications = backend(t, 'redis://127.0.0.1:1');
    notifications.onPublishError = (error) => publishErrors.push(error);

    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      await notifications.notifyTaskCompleted(randomUUID());
      assert.ok(Date.now() - started < 500, `publish ${i} took ${Date.now() - started}ms`);
    }
    assert.equal(publishErrors.length, 3);
    const started = Date.now();
    await assert.rejects(notifications.listen('senpuki:task:x', () => {}));
    assert.ok(Date.now() - started < 1000, `listen took ${Date.now() - started}ms`);
  });

  test('close is idempotent and later calls fail softly', async (t) => {
    if (!(await requireRedis(t))) return;
    const notifications = new RedisBackend(redisUrl, { connectionName: uniqueName() });
    await notifications.notifyTaskCompleted(randomUUID());
    const unlisten = await notifications.listen(`senpuki:task:${randomUUID()}`, () => {});
    await Promise.all([notifications.close(), notifications.close()]);
    await notifications.close();
    unlisten();
    await notifications.notifyTaskCompleted(randomUUID());
    await assert.rejects(notifications.listen('senpuki:task:y', () => {}), /closed/);
  });

  test('a backend that first listens while Redis is down tells its connection listeners of the outage and of its end', async (t) => {
    if (!(await hasRedisServerBinary())) return void t.skip('redis-server binary not found');
    const server = await startRedisServer();
    t.after(() => server.stop());
    await server.kill();
    const notifications = backend(t, server.url);
    const events: boolean[] = [];
    notifications.addConnectionListener((connected) => events.push(connected));
    await assert.rejects(notifications.listen(`senpuki:task:${randomUUID()}`, () => {}), 'listen fails while Redis is down');
    await waitFor(() => events.includes(false), { message: 'the outage to be told' });
    await server.restart();
    await waitFor(() => events.at(-1) === true, { message: 'its end to be told', timeoutMs: 15_000 });
    assert.deepEqual(events, [false, true], 'each once, however many reconnect attempts failed meanwhile');
    assert.equal(notifications.connected, true);
  });

  test('a subscription survives Redis being killed and restarted: ioredis re-subscribes it', async (t) => {
    if (!(await requireRedis(t))) return;
    if (!(await hasRedisServerBinary())) return void t.skip('redis-server binary not found');
    const server = await startRedisServer();
    t.after(() => server.stop());
    const notifications = backend(t, server.url);
    const taskId = randomUUID();
    const channel = `senpuki:task:${taskId}`;
    const probe = () => {
      const client = new Redis(server.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      client.on('error', () => {});
      return client;
    };
    const numsubOnServer = async () => {
      const client = probe();
      try {
        return await numsub(client, channel);
      } finally {
        client.disconnect();
      }
    };
    let reconnects = 0;
    notifications.addConnectionListener((connected) => connected && reconnects++);
    const iterator = notifications.subscribeToTask(taskId)[Symbol.asyncIterator]();
    const first = iterator.next();
    const dropped = `senpuki:task:${randomUUID()}`;
    const unlistenDropped = await notifications.listen(dropped, () => {});
    await waitFor(async () => (await numsubOnServer()) === 1, { message: 'the first SUBSCRIBE' });

    await server.kill();
    // While it is down: new listens fail fast (callers poll), an unlisten is kept for later.
    const listenFails = () =>
      notifications.listen(`senpuki:task:${randomUUID()}`, () => {}).then(
        (unlisten) => (unlisten(), false),
        () => true,
      );
    await waitFor(listenFails, {
      message: 'listen to fail fast while Redis is down',
    });
    unlistenDropped();
    await server.restart();
    await waitFor(() => reconnects === 1, { message: 'onReconnect' });
    // onReconnect fires only once the re-SUBSCRIBE is confirmed.
    assert.equal(await numsubOnServer(), 1);
    const probeDropped = probe();
    t.after(() => probeDropped.disconnect());
    await waitFor(async () => (await numsub(probeDropped, dropped)) === 0, { message: 'the queued UNSUBSCRIBE' });
    await waitFor(() => notifications.subscribedChannelCount === 1, { message: 'our count to match the server' });
    assert.equal(notifications.listenerCount, 1);

    const publisher = probe();
    t.after(() => publisher.disconnect());
    await publisher.publish(channel, JSON.stringify({ task_id: taskId, state: 'completed' }));
    assert.deepEqual(await first, { done: false, value: { task_id: taskId, state: 'completed' } });
    assert.deepEqual(await iterator.next(), { done: true, value: undefined });
    await waitFor(async () => (await numsubOnServer()) === 0, { message: 'UNSUBSCRIBE after the end' });
    await waitFor(() => notifications.subscribedChannelCount === 0, { message: 'the UNSUBSCRIBE confirmed to the backend' });
  });
});
