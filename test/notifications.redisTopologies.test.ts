import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { describe, test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { RedisBackend } from '../server/notifications/redisBackend.js';
import { waitFor } from './helpers/conditions.js';
import { hasRedisServerBinary, startRedisServer, type RedisServerProcess } from './helpers/redisServer.js';

/** Cluster and Sentinel URLs against real ones started here (redis-server child processes). */

function client(t: TestContext, port: number): Redis {
  const created = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  created.on('error', () => {});
  t.after(() => created.disconnect());
  return created;
}

/** Skips (or fails under CI=true) when there is no redis-server binary to start. */
async function requireRedisServerBinary(t: TestContext): Promise<boolean> {
  if (await hasRedisServerBinary()) return true;
  if (process.env.CI === 'true') throw new Error('redis-server binary not found; CI=true, so this fails instead of skipping');
  t.skip('redis-server binary not found');
  return false;
}

async function start(t: TestContext, options?: Parameters<typeof startRedisServer>[0]): Promise<RedisServerProcess> {
  const server = await startRedisServer(options);
  t.after(() => server.stop());
  return server;
}

describe('RedisBackend topologies', () => {
  test('comma-separated hosts reach a Redis Cluster through one pub/sub connection', async (t) => {
    if (!(await requireRedisServerBinary(t))) return;
    const clusterArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'];
    const nodes = await Promise.all([0, 1, 2].map(() => start(t, { args: clusterArgs })));
    await promisify(execFile)('redis-cli', [
      '--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '0', '--cluster-yes',
    ]);
    const admins = nodes.map((node) => client(t, node.port));
    await waitFor(
      async () => (await Promise.all(admins.map((admin) => admin.cluster('INFO')))).every((info) => /cluster_state:ok/.test(String(info))),
      { message: 'cluster_state:ok on every node' },
    );

    const name = `senpuki-test-${randomUUID().slice(0, 8)}`;
    const notifications = new RedisBackend(`redis://${nodes.map((node) => `127.0.0.1:${node.port}`).join(',')}`, {
      connectionName: name,
    });
    t.after(() => notifications.close());
    assert.equal(notifications.mode, 'cluster');
    const ids = Array.from({ length: 20 }, () => randomUUID());
    const streams = ids.map((id) => notifications.subscribeToTask(id)[Symbol.asyncIterator]());
    const firsts = streams.map((stream) => stream.next());
    await waitFor(() => notifications.subscribedChannelCount === ids.length, { message: 'every SUBSCRIBE confirmed' });

    const lines = (await Promise.all(admins.map((admin) => admin.client('LIST'))))
      .flatMap((list) => String(list).split('\n'))
      .filter((line) => line.includes(`${name}:subscriber `) && !/ sub=0 /.test(line)); // ioredis prefixes cluster names
    assert.equal(lines.length, 1, 'exactly one connection holds the subscriptions');

    // Cluster pub/sub is broadcast: a PUBLISH on any node reaches the subscriber.
    await admins[2]!.publish(`senpuki:task:${ids[0]}`, JSON.stringify({ task_id: ids[0], state: 'completed' }));
    await Promise.all(ids.slice(1).map((id) => notifications.notifyTaskCompleted(id)));
    const messages = await Promise.all(firsts);
    assert.deepEqual(
      messages.map((result) => result.value),
      ids.map((id) => ({ task_id: id, state: 'completed' })),
    );
    await Promise.all(streams.map((stream) => stream.return?.()));
    await waitFor(() => notifications.subscribedChannelCount === 0, { message: 'every UNSUBSCRIBE' });
  });

  test('a /mastername path finds the master through Sentinel', async (t) => {
    if (!(await requireRedisServerBinary(t))) return;
    const master = await start(t);
    const sentinel = await start(t, { sentinelConfig: [`sentinel monitor mymaster 127.0.0.1 ${master.port} 1`] });
    const sentinelAdmin = client(t, sentinel.port);
    await waitFor(
      async () => ((await sentinelAdmin.call('SENTINEL', 'get-master-addr-by-name', 'mymaster')) as string[] | null)?.[1] === String(master.port),
      { message: 'Sentinel to know the master' },
    );

    const name = `senpuki-test-${randomUUID().slice(0, 8)}`;
    const notifications = new RedisBackend(`redis://127.0.0.1:${sentinel.port}/mymaster`, { connectionName: name });
    t.after(() => notifications.close());
    assert.equal(notifications.mode, 'sentinel');
    const taskId = randomUUID();
    const iterator = notifications.subscribeToTask(taskId)[Symbol.asyncIterator]();
    const first = iterator.next();
    const masterAdmin = client(t, master.port);
    await waitFor(
      async () => Number(((await masterAdmin.pubsub('NUMSUB', `senpuki:task:${taskId}`)) as [string, number])[1]) === 1,
      { message: 'SUBSCRIBE on the master' },
    );
    await notifications.notifyTaskCompleted(taskId);
    assert.deepEqual(await first, { done: false, value: { task_id: taskId, state: 'completed' } });

    const ours = String(await masterAdmin.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=${name}:`));
    assert.equal(ours.length, 2, 'the subscriber and the publisher are connected to the master');
    await iterator.return?.();
  });
});
