import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Announcer } from '../server/engine/announcer.js';
import { Senpuki } from '../server/engine/senpuki.js';
import { Store, type Changes } from '../server/store/store.js';
import type { ChannelMessage } from '../server/notifications/backend.js';
import { PostgresNotifyBackend } from '../server/notifications/postgresNotifyBackend.js';
import { RedisBackend } from '../server/notifications/redisBackend.js';
import { waitFor } from './helpers/conditions.js';
import { postgresUrl, redisUrl, requirePostgres, requireRedis } from './helpers/services.js';

/** A settled single-task execution as the batch settle reports it, plus a wake-up. */
function completion(announcer: Announcer): { changes: Changes; expected: ChannelMessage[] } {
  const taskId = randomUUID();
  const executionId = randomUUID();
  return {
    changes: { tasks: [{ id: taskId, state: 'completed', executionId }], executions: [{ id: executionId, state: 'completed' }], wakeQueues: ['q1'] },
    expected: [
      { channel: `senpuki:task:${taskId}`, payload: `{"task_id": "${taskId}", "state": "completed"}` },
      { channel: `senpuki:execution:${executionId}`, payload: `{"execution_id": "${executionId}", "state": "completed"}` },
      { channel: `senpuki:execution-tasks:${executionId}`, payload: `{"task_id": "${taskId}", "state": "completed"}` },
      { channel: 'senpuki:executions', payload: `{"execution_id": "${executionId}", "state": "completed"}` },
      { channel: 'senpuki:workers:wake', payload: `{"queue":"q1","origin":"${announcer.origin}"}` },
    ],
  };
}

class CountingRedisBackend extends RedisBackend {
  roundTrips = 0;
  protected override publishManyRaw(messages: readonly ChannelMessage[]): Promise<void> {
    this.roundTrips++;
    return super.publishManyRaw(messages);
  }
  protected override publishRaw(channel: string, payload: string): Promise<void> {
    this.roundTrips++;
    return super.publishRaw(channel, payload);
  }
}

test('announcements of one turn go to Redis as one pipeline, with the spec channels and bytes', async (t) => {
  if (!(await requireRedis(t))) return;
  const backend = new CountingRedisBackend(redisUrl);
  const raw = new Redis(redisUrl);
  try {
    const announcer = new Announcer(backend);
    const first = completion(announcer);
    const second = completion(announcer);
    const expected = [...first.expected, ...second.expected];
    const received: ChannelMessage[] = [];
    raw.on('message', (channel: string, payload: string) => received.push({ channel, payload }));
    await raw.subscribe(...new Set(expected.map((message) => message.channel)));
    await Promise.all([announcer.announce(first.changes), announcer.announce(second.changes)]);
    assert.equal(backend.roundTrips, 1, 'two announcements, one pipeline');
    await waitFor(() => received.length >= expected.length, { message: 'every message' });
    assert.deepEqual(received, expected, 'in order, byte for byte');
  } finally {
    raw.disconnect();
    await backend.close();
  }
});

test('announcements of one turn go to Postgres as one NOTIFY statement, with the spec channels and bytes', async (t) => {
  if (!(await requirePostgres(t))) return;
  const statements: string[] = [];
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 1 });
  const backend = new PostgresNotifyBackend(postgresUrl, {
    notifyVia: { query: (text: string, values?: unknown[]) => (statements.push(text), pool.query(text, values)) } as never,
  });
  const listener = new pg.Client({ connectionString: postgresUrl });
  try {
    await listener.connect();
    const announcer = new Announcer(backend);
    const { changes, expected } = completion(announcer);
    const received: ChannelMessage[] = [];
    listener.on('notification', (message) => received.push({ channel: message.channel, payload: message.payload ?? '' }));
    for (const channel of new Set(expected.map((message) => message.channel))) await listener.query(`LISTEN "${channel}"`);
    await announcer.announce(changes);
    assert.equal(statements.length, 1, 'one statement for five messages');
    await waitFor(() => received.length >= expected.length, { message: 'every notification' });
    assert.deepEqual(received, expected);
  } finally {
    await listener.end();
    await backend.close();
    await pool.end();
  }
});

test('a dispatch wakes its own engine\'s worker once: in-process, not again when its wake-up comes back from Redis', async (t) => {
  if (!(await requireRedis(t))) return;
  const store = await Store.embedded({ dataDir: 'memory://' });
  const senpuki = new Senpuki({ store, notifications: new RedisBackend(redisUrl) });
  try {
    senpuki.durable('noop', async () => 'ok');
    const worker = await senpuki.serve({ concurrency: 1 });
    const nudges: Array<string | undefined> = [];
    const nudge = worker.nudge.bind(worker);
    worker.nudge = (queue?: string) => {
      nudges.push(queue);
      nudge(queue);
    };
    await senpuki.waitFor(await senpuki.dispatch('noop', []), { timeoutMs: 10_000 });
    // A wake-up of another origin, published after ours on the same connection: once it has
    // arrived, ours has too (Redis keeps the order of one connection's messages).
    const foreign = new Announcer(senpuki.notifications);
    await foreign.announce({ tasks: [], executions: [], wakeQueues: ['marker'] });
    await waitFor(() => nudges.includes('marker'), { message: 'the foreign wake-up' });
    assert.deepEqual(nudges, ['default', 'marker'], 'the in-process nudge, then the foreign wake-up; our own came back and was skipped');
  } finally {
    await senpuki.close();
  }
});
