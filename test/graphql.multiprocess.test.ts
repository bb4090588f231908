import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startTsxChild, type TsxChild } from './helpers/childProcesses.js';
import { waitFor } from './helpers/conditions.js';
import { postGraphQL, sseSubscribe, wsClient, wsSubscribe, type EventLog } from './helpers/graphqlClients.js';
import { redisUrl, requirePostgres, requireRedis } from './helpers/services.js';
import { postgresUrl, openPostgresTestStore } from './helpers/stores.js';

const CHILD = 'test/helpers/graphqlProcess.ts';
const EXECUTION_UPDATED = `subscription($id: ID!) { executionUpdated(id: $id) { state version result } }`;
const TASK_UPDATED = `subscription($id: ID!) { taskUpdated(id: $id) { state version } }`;

/** Names of the connections Redis has open, from CLIENT LIST. */
async function connectionNames(redis: Redis): Promise<string[]> {
  const list = (await redis.call('CLIENT', 'LIST')) as string;
  return list.split('\n').map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? '').filter(Boolean);
}

describe('several server processes on one Postgres and Redis', () => {
  it('delivers a completion made by a worker process to subscribers on both servers, over one Redis subscriber per server', async (t) => {
    if (!(await requirePostgres(t)) || !(await requireRedis(t))) return;
    const { schema, dispose } = await openPostgresTestStore();
    const prefix = `senpuki-mp-${randomBytes(4).toString('hex')}`;
    const env = (name: string, role: string) => ({
      DATABASE_URL: postgresUrl,
      REDIS_URL: redisUrl,
      SENPUKI_TEST_SCHEMA: schema!,
      SENPUKI_TEST_ROLE: role,
      SENPUKI_TEST_CONNECTION_NAME: `${prefix}-${name}`,
    });
    const children: TsxChild<{ url?: string }>[] = [];
    const redis = new Redis(redisUrl);
    const clients: ReturnType<typeof wsClient>[] = [];
    try {
      const [a, b] = await Promise.all([startTsxChild<{ url: string }>(CHILD, env('a', 'server')), startTsxChild<{ url: string }>(CHILD, env('b', 'server'))]);
      children.push(a!, b!);
      const urlA = a!.ready.url;
      const urlB = b!.ready.url;

      const { body } = await postGraphQL(fetch, urlA, `mutation { dispatch(input: { function: "step", args: ["x"] }) { execution { id rootTask { id } } } }`);
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      const { id, rootTask } = body.data.dispatch.execution;

      const clientA = wsClient(urlA);
      const clientB = wsClient(urlB);
      clients.push(clientA, clientB);
      const logs: EventLog[] = [
        wsSubscribe(clientA, EXECUTION_UPDATED, { id }).log,
        wsSubscribe(clientA, TASK_UPDATED, { id: rootTask.id }).log,
        wsSubscribe(clientB, EXECUTION_UPDATED, { id }).log,
        sseSubscribe(fetch, urlB, EXECUTION_UPDATED, { id }).log,
        sseSubscribe(fetch, urlB, TASK_UPDATED, { id: rootTask.id }).log,
      ];
      for (const log of logs) await log.waitForEvents(1);
      for (const log of logs) assert.equal((Object.values(log.events[0]!.data!)[0] as { state: string }).state, 'PENDING');

      // Five subscriptions over two channels: still one subscriber connection per server.
      const subscribers = [`${prefix}-a:subscriber`, `${prefix}-b:subscriber`];
      const names: string[] = await waitFor(
        async () => {
          const all = await connectionNames(redis);
          return subscribers.every((name) => all.includes(name)) ? all : undefined;
        },
        { message: "both servers' subscriber connections" },
      );
      assert.equal(names.filter((name) => name === `${prefix}-a:subscriber`).length, 1);
      assert.equal(names.filter((name) => name === `${prefix}-b:subscriber`).length, 1);

      // The children poll once a minute, so within this wait only Redis push can deliver the change.
      children.push(await startTsxChild(CHILD, env('worker', 'worker')));
      for (const log of logs) await log.waitForEnd(15_000).catch((e) => { console.log(JSON.stringify(logs.map((l) => [l.events, l.completed, String(l.failure)]))); throw e; });
      for (const log of logs) {
        assert.equal(log.failure, undefined);
        assert.equal(log.completed, true);
        const rows = log.events.map((event) => Object.values(event.data!)[0] as { state: string; version: number; result?: unknown });
        assert.equal(rows.at(-1)!.state, 'COMPLETED');
        for (let i = 1; i < rows.length; i++) assert.ok(rows[i]!.version > rows[i - 1]!.version, 'versions increase');
      }
      assert.equal((logs[0]!.events.at(-1)!.data!.executionUpdated as { result: string }).result, 'done x');
    } finally {
      for (const client of clients) await client.dispose();
      const codes = await Promise.all(children.map((child) => child.stop()));
      redis.disconnect();
      await dispose();
      assert.deepEqual(codes, children.map(() => 0), 'children exit cleanly');
    }
  });
});
