import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test, type TestContext } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { ValidationError } from '../server/errors.js';
import { PostgresNotifyBackend, type PostgresNotifyBackendOptions } from '../server/notifications/postgresNotifyBackend.js';
import { waitFor } from './helpers/conditions.js';
import { startFreezableProxy } from './helpers/freezableProxy.js';
import { postgresUrl, requirePostgres } from './helpers/services.js';

/** Consumes `iterable` in the background; resolves with what it yielded once it ends. */
function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const done = (async () => {
    const values: T[] = [];
    for await (const value of iterable) values.push(value);
    return values;
  })();
  done.catch(() => {}); // observed by the test; avoids an unhandled rejection meanwhile
  return done;
}

interface Target {
  name: string;
  /** Returns undefined when the target is unavailable (the test was skipped). */
  open(t: TestContext, options?: PostgresNotifyBackendOptions): Promise<PostgresNotifyBackend | undefined>;
  /** Sends a NOTIFY the way any other Postgres client would. */
  rawNotify(channel: string, payload: string): Promise<void>;
}

let pglite: PGlite | undefined;
const targets: Target[] = [
  {
    name: 'real Postgres',
    async open(t, options) {
      if (!(await requirePostgres(t))) return undefined;
      const backend = new PostgresNotifyBackend(postgresUrl, options);
      t.after(() => backend.close());
      return backend;
    },
    async rawNotify(channel, payload) {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      try {
        await client.query('SELECT pg_notify($1, $2)', [channel, payload]);
      } finally {
        await client.end();
      }
    },
  },
  {
    name: 'PGlite',
    async open(t, options) {
      const backend = new PostgresNotifyBackend(pglite!, options);
      t.after(() => backend.close());
      return backend;
    },
    async rawNotify(channel, payload) {
      await pglite!.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
  },
];

const target0 = targets[0]!; // real Postgres

describe('PostgresNotifyBackend', () => {
  before(async () => {
    pglite = await PGlite.create();
  });
  after(() => pglite?.close());

  for (const target of targets) {
    describe(`on ${target.name}`, () => {
      test('a task message round-trips and ends the stream after "completed"', async (t) => {
        const notifications = await target.open(t);
        if (!notifications) return;
        const taskId = randomUUID();
        const done = collect(notifications.subscribeToTask(taskId));
        await waitFor(() => notifications.subscribedChannelCount === 1, { message: 'LISTEN' });

        await notifications.notifyTaskUpdated(taskId, 'running');
        await notifications.notifyTaskCompleted(taskId);
        assert.deepEqual(await done, [
          { task_id: taskId, state: 'running' },
          { task_id: taskId, state: 'completed' },
        ]);
        await waitFor(() => notifications.subscribedChannelCount === 0, { message: 'UNLISTEN' });
      });

      test('an execution stream ends after "timed_out"', async (t) => {
        const notifications = await target.open(t);
        if (!notifications) return;
        const executionId = randomUUID();
        const done = collect(notifications.subscribeToExecution(executionId));
        await waitFor(() => notifications.subscribedChannelCount === 1, { message: 'LISTEN' });
        await notifications.notifyExecutionUpdated(executionId, 'timed_out');
        assert.deepEqual(await done, [{ execution_id: executionId, state: 'timed_out' }]);
      });

      test('a NOTIFY from another client in the spec format reaches subscribeToTask', async (t) => {
        const notifications = await target.open(t);
        if (!notifications) return;
        const taskId = randomUUID();
        const done = collect(notifications.subscribeToTask(taskId));
        await waitFor(() => notifications.subscribedChannelCount === 1, { message: 'LISTEN' });
        await target.rawNotify(`senpuki:task:${taskId}`, `{"task_id": "${taskId}", "state": "failed"}`);
        assert.deepEqual(await done, [{ task_id: taskId, state: 'failed' }]);
      });

      test('two listeners share a channel; when one unlistens the other still receives', async (t) => {
        const notifications = await target.open(t);
        if (!notifications) return;
        const channel = `senpuki:task:${randomUUID()}`;
        const a: string[] = [];
        const b: string[] = [];
        const unlistenA = await notifications.listen(channel, (payload) => a.push(payload));
        const unlistenB = await notifications.listen(channel, (payload) => b.push(payload));
        assert.equal(notifications.subscribedChannelCount, 1);

        await notifications.publish(channel, 'one');
        await waitFor(() => a.length === 1 && b.length === 1, { message: 'both to get "one"' });
        unlistenA();
        unlistenA();
        await notifications.publish(channel, 'two');
        await waitFor(() => b.length === 2, { message: 'b to get "two"' });
        assert.deepEqual(a, ['one']);
        assert.deepEqual(b, ['one', 'two']);
        assert.equal(notifications.subscribedChannelCount, 1);
        unlistenB();
        await waitFor(() => notifications.subscribedChannelCount === 0, { message: 'UNLISTEN' });
      });

      test('channel names keep their case and quotes, and names over 63 bytes are rejected', async (t) => {
        const notifications = await target.open(t);
        if (!notifications) return;
        const channel = 'Senpuki:"Odd" Channel';
        const received: string[] = [];
        const unlisten = await notifications.listen(channel, (payload) => received.push(payload));
        await target.rawNotify(channel, 'quoted');
        await waitFor(() => received.length === 1, { message: 'the quoted channel message' });
        unlisten();

        const long = `senpuki:task:${'x'.repeat(51)}`; // 64 bytes
        await assert.rejects(notifications.listen(long, () => {}), (error: unknown) => {
          assert.ok(error instanceof ValidationError);
          assert.match(error.message, /1 to 63 bytes/);
          return true;
        });
        const publishErrors: unknown[] = [];
        notifications.onPublishError = (error) => publishErrors.push(error);
        await notifications.publish(long, 'x');
        assert.ok(publishErrors[0] instanceof ValidationError);
      });

      test('close is idempotent and later publishes fail softly', async (t) => {
        const notifications = await target.open(t);
        if (!notifications) return;
        await notifications.listen(`senpuki:task:${randomUUID()}`, () => {});
        await Promise.all([notifications.close(), notifications.close()]);
        await notifications.notifyTaskCompleted(randomUUID());
        await assert.rejects(notifications.listen('senpuki:task:y', () => {}), /closed/);
      });
    });
  }

  test('PGlite: the backend LISTENs quoted channels in the instance and leaves it open and clean on close', async () => {
    const notifications = new PostgresNotifyBackend(pglite!);
    const channel = `senpuki:execution:${randomUUID()}`;
    await notifications.listen(channel, () => {});
    const listening = await pglite!.query<{ c: string }>('SELECT pg_listening_channels() AS c');
    assert.ok(listening.rows.some((row) => row.c === channel));
    await notifications.close();
    const after = await pglite!.query<{ c: string }>('SELECT pg_listening_channels() AS c');
    assert.ok(!after.rows.some((row) => row.c === channel));
    assert.equal((await pglite!.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one, 1);
  });

  test('real Postgres: after its LISTEN connection is terminated, it reconnects and a NOTIFY still arrives', async (t) => {
    if (!(await requirePostgres(t))) return;
    const applicationName = `senpuki-test-${randomUUID().slice(0, 8)}`;
    const notifications = new PostgresNotifyBackend(postgresUrl, {
      clientConfig: { application_name: applicationName },
      reconnectMinDelayMs: 20,
    });
    t.after(() => notifications.close());
    let reconnects = 0;
    notifications.addConnectionListener((connected) => connected && reconnects++);
    const taskId = randomUUID();
    const done = collect(notifications.subscribeToTask(taskId));
    await waitFor(() => notifications.subscribedChannelCount === 1, { message: 'LISTEN' });

    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    t.after(() => admin.end());
    const listenerPids = async () =>
      (
        await admin.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'`,
          [applicationName],
        )
      ).rows.map((row) => row.pid);
    const [pid] = await listenerPids();
    assert.ok(pid, 'the LISTEN connection is visible in pg_stat_activity');
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);

    await waitFor(() => reconnects === 1, { message: 'the LISTEN connection to come back' });
    const [newPid] = await listenerPids();
    assert.ok(newPid !== undefined && newPid !== pid, 'a new LISTEN connection');
    assert.equal(notifications.subscribedChannelCount, 1);
    await admin.query('SELECT pg_notify($1, $2)', [`senpuki:task:${taskId}`, JSON.stringify({ task_id: taskId, state: 'completed' })]);
    assert.deepEqual(await done, [{ task_id: taskId, state: 'completed' }]);
  });

  test('real Postgres: a LISTEN connection that goes silent is detected by its heartbeat and replaced', async (t) => {
    if (!(await requirePostgres(t))) return;
    const proxy = await startFreezableProxy(new URL(postgresUrl), 5432);
    t.after(() => proxy.close());
    const notifications = new PostgresNotifyBackend(proxy.url, {
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 300,
      reconnectMinDelayMs: 20,
    });
    t.after(() => notifications.close());
    let reconnects = 0;
    notifications.addConnectionListener((connected) => connected && reconnects++);
    const taskId = randomUUID();
    const done = collect(notifications.subscribeToTask(taskId));
    await waitFor(() => notifications.subscribedChannelCount === 1, { message: 'LISTEN' });

    proxy.freeze();
    await waitFor(() => reconnects === 1, { message: 'the heartbeat to replace the silent connection' });
    await target0.rawNotify(`senpuki:task:${taskId}`, JSON.stringify({ task_id: taskId, state: 'completed' }));
    assert.deepEqual(await done, [{ task_id: taskId, state: 'completed' }]);
  });

  test('real Postgres: many LISTENs at once and a heartbeat go over the one connection one at a time (no overlapping client.query)', async (t) => {
    if (!(await requirePostgres(t))) return;
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    const notifications = new PostgresNotifyBackend(postgresUrl, { heartbeatIntervalMs: 5 });
    try {
      const channels = Array.from({ length: 50 }, () => `senpuki:task:${randomUUID()}`);
      const received: string[] = [];
      const stops = await Promise.all(channels.map((channel) => notifications.listen(channel, (payload) => received.push(payload))));
      await notifications.publish(channels[49]!, 'last');
      await waitFor(() => received.includes('last'), { message: 'a NOTIFY on the last channel' });
      for (const stop of stops) stop();
      await waitFor(() => notifications.subscribedChannelCount === 0, { message: 'every UNLISTEN' });
      assert.deepEqual(warnings.filter((message) => /already executing a query/.test(message)), []);
    } finally {
      process.off('warning', onWarning);
      await notifications.close();
    }
  });

  test('while Postgres is unreachable, publish resolves quickly and listen rejects quickly', async (t) => {
    const notifications = new PostgresNotifyBackend('postgres://postgres@127.0.0.1:1/test');
    t.after(() => notifications.close());
    const publishErrors: unknown[] = [];
    notifications.onPublishError = (error) => publishErrors.push(error);
    const started = Date.now();
    await notifications.notifyTaskCompleted(randomUUID());
    await assert.rejects(notifications.listen(`senpuki:task:${randomUUID()}`, () => {}));
    await assert.rejects(notifications.listen(`senpuki:task:${randomUUID()}`, () => {}));
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started}ms`);
    assert.equal(publishErrors.length, 1);
  });
});
