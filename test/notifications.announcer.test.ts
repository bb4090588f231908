import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Announcer } from '../server/engine/announcer.js';
import type { ChannelMessage } from '../server/notifications/backend.js';
import { PostgresNotifyBackend } from '../server/notifications/postgresNotifyBackend.js';
import { RedisBackend } from '../server/notifications/redisBackend.js';
import type { Changes } from '../server/store/store.js';
import { waitFor } from './helpers/conditions.js';
import { postgresUrl, redisUrl, requirePostgres, requireRedis } from './helpers/services.js';

/** A settled single-task execution as the batch settle reports it, plus a wake-up. */
function completion(): { changes: Changes; expected: ChannelMessage[] } {
  const taskId = randomUUID();
  const executionId = randomUUID();
  return {
    changes: { tasks: [{ id: taskId, state: 'completed', executionId }], executions: [{ id: executionId, state: 'completed' }], wakeQueues: ['q1'] },
    expected: [
      { channel: `senpuki:task:${taskId}`, payload: `{"task_id": "${taskId}", "state": "completed"}` },
      { channel: `senpuki:execution:${executionId}`, payload: `{"execution_id": "${executionId}", "state": "completed"}` },
      { channel: `senpuki:execution-tasks:${executionId}`, payload: `{"task_id": "${taskId}", "state": "completed"}` },
      { channel: 'senpuki:executions', payload: `{"execution_id": "${executionId}", "state": "completed"}` },
      { channel: 'senpuki:workers:wake', payload: 'q1' },
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
    const first = completion();
    const second = completion();
    const expected = [...first.expected, ...second.expected];
    const received: ChannelMessage[] = [];
    raw.on('message', (channel: string, payload: string) => received.push({ channel, payload }));
    await raw.subscribe(...new Set(expected.map((message) => message.channel)));
    const announcer = new Announcer(backend);
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
    const { changes, expected } = completion();
    const received: ChannelMessage[] = [];
    listener.on('notification', (message) => received.push({ channel: message.channel, payload: message.payload ?? '' }));
    for (const channel of new Set(expected.map((message) => message.channel))) await listener.query(`LISTEN "${channel}"`);
    await new Announcer(backend).announce(changes);
    assert.equal(statements.length, 1, 'one statement for five messages');
    await waitFor(() => received.length >= expected.length, { message: 'every notification' });
    assert.deepEqual(received, expected);
  } finally {
    await listener.end();
    await backend.close();
    await pool.end();
  }
});
