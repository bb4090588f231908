import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { executionTasksChannel } from '../server/notifications/channels.js';
import { Senpuki } from '../server/engine/senpuki.js';
import type { TaskRecord } from '../server/domain/types.js';
import type { EngineBackend } from '../server/notifications/engineBackend.js';
import { PostgresNotifyBackend } from '../server/notifications/postgresNotifyBackend.js';
import { RedisBackend } from '../server/notifications/redisBackend.js';
import { ExecutionTasksFeed } from '../server/realtime/executionTasksFeed.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { Gates } from './helpers/gates.js';
import { redisUrl, requireRedis } from './helpers/services.js';
import { openPostgresTestStore, postgresReachable, postgresUrl, type TestStore } from './helpers/stores.js';

// Polling this slow cannot explain a change seen within a test: only a message can.
const NO_POLLING = { pollMinIntervalMs: 60_000, pollMaxIntervalMs: 60_000 };

/** Collects a feed's tasks in the background; `done` settles when the feed ends by itself. */
function collect(feed: AsyncGenerator<TaskRecord>): { rows: TaskRecord[]; done: Promise<void> } {
  const rows: TaskRecord[] = [];
  const done = (async () => {
    for await (const row of feed) rows.push(row);
  })();
  return { rows, done };
}

const has = (rows: TaskRecord[], taskId: string | undefined, state: string) => rows.some((row) => row.id === taskId && row.state === state);

/** The last row of each task, by id. */
const latest = (rows: TaskRecord[]) => new Map(rows.map((row) => [row.id, row]));

function assertVersionsIncreasePerTask(rows: TaskRecord[]): void {
  const last = new Map<string, number>();
  for (const row of rows) {
    assert.ok(row.version > (last.get(row.id) ?? 0), `task ${row.id} went back to version ${row.version}`);
    last.set(row.id, row.version);
  }
}

/** `fanOut(keys)` runs one gated child per key; `hangs` runs until it is cancelled or times out. */
function register(senpuki: Senpuki, gates: Gates): void {
  const gated = senpuki.durable('gatedChild', async (_ctx, key: string) => gates.wait(key));
  senpuki.durable('fanOut', async (ctx, keys: string[]) => ctx.map(gated, keys));
  senpuki.durable('hangs', async (ctx) => {
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    ctx.signal.throwIfAborted();
  });
}

describe('execution tasks feed (pglite)', () => {
  let engine: TestEngine;
  const gates = new Gates();
  before(async () => {
    engine = await openEngine('pglite');
    register(engine.senpuki, gates);
    await engine.senpuki.serve({ concurrency: 10 });
  });
  after(async () => {
    gates.openAll();
    await engine.close();
  });

  const feedOf = (push: boolean) =>
    new ExecutionTasksFeed({
      store: engine.senpuki.store,
      notifications: push ? engine.senpuki.notifications : undefined,
      pushReachesAllWriters: push,
      ...(push ? NO_POLLING : { pollMinIntervalMs: 20, pollMaxIntervalMs: 200 }),
    });

  for (const push of [true, false]) {
    it(`sends every task, then each task change, and ends after the execution's last one, ${push ? 'pushed' : 'by polling alone'}`, async () => {
      const [a, b] = [`a-${push}`, `b-${push}`];
      const { execution } = await engine.senpuki.submit('fanOut', [[a, b]]);
      const { rows, done } = collect(feedOf(push).watch(execution.id));
      const children = await waitFor(async () => {
        const tasks = await engine.senpuki.listTasks(execution.id);
        return tasks.length === 3 && tasks.every((task) => task.state === 'running') ? tasks.slice(1) : undefined;
      }, { message: 'both children to run' });
      await waitFor(() => children.every((child) => has(rows, child.id, 'running')), { message: 'the running children in the feed' });
      gates.open(a);
      // The execution's version does not move when a child finishes: only the task feed shows it.
      await waitFor(() => has(rows, children[0]!.id, 'completed'), { message: 'the first child to complete' });
      assert.equal(has(rows, children[1]!.id, 'completed'), false);
      gates.open(b);
      await done;
      assertVersionsIncreasePerTask(rows);
      const final = latest(rows);
      assert.deepEqual([...final.values()].map((task) => task.state), ['completed', 'completed', 'completed']);
      assert.equal(rows.at(-1)!.id, execution.rootTaskId, 'the root completes last');
    });
  }

  it('resumes after a change sequence number with the later changes only, and ends at once on a finished execution', async () => {
    gates.open('resume-a');
    gates.open('resume-b');
    const { execution } = await engine.senpuki.submit('fanOut', [['resume-a', 'resume-b']]);
    await engine.senpuki.waitFor(execution.id, { timeoutMs: 10_000 });
    const tasks = await engine.senpuki.listTasks(execution.id);
    const everything = collect(feedOf(false).watch(execution.id));
    await everything.done;
    assert.deepEqual(new Set(everything.rows.map((row) => row.id)), new Set(tasks.map((task) => task.id)));

    const byChange = [...tasks].sort((x, y) => Number(BigInt(x.changeSeq) - BigInt(y.changeSeq)));
    const resumed = collect(feedOf(true).watch(execution.id, { since: byChange[0]!.changeSeq }));
    await resumed.done;
    assert.deepEqual(resumed.rows.map((row) => row.id).sort(), byChange.slice(1).map((task) => task.id).sort());
  });

  it('runs one feed per execution for every watch of it: one listen per channel, one read per change; late watches take their own snapshot or window', async () => {
    const listens: string[] = [];
    const backend = engine.senpuki.notifications;
    const countingBackend = new Proxy(backend, {
      get(target, property) {
        if (property === 'listen') return (channel: string, onMessage: (payload: string) => void) => (listens.push(channel), target.listen(channel, onMessage));
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const reads: string[] = [];
    const feed = new ExecutionTasksFeed({
      store: engine.senpuki.store,
      notifications: countingBackend,
      pushReachesAllWriters: true,
      readTask: (id) => (reads.push(id), engine.senpuki.store.getTask(id)),
      ...NO_POLLING,
    });
    const [a, b] = ['shared-a', 'shared-b'];
    const { execution } = await engine.senpuki.submit('fanOut', [[a, b]]);
    const watches = [1, 2, 3].map(() => collect(feed.watch(execution.id)));
    const children = await waitFor(async () => {
      const tasks = await engine.senpuki.listTasks(execution.id);
      return tasks.length === 3 && tasks.every((task) => task.state === 'running') ? tasks.slice(1) : undefined;
    }, { message: 'both children to run' });
    for (const { rows } of watches) await waitFor(() => children.every((child) => has(rows, child.id, 'running')), { message: 'the running children in every watch' });
    assert.equal(feed.feedCount, 1);
    assert.equal(listens.length, 2, `one listen on each of the execution's two channels, not ${listens.join(', ')}`);

    // A watch joining the running feed: its own snapshot (every task), or only what changed after its `since`.
    const late = collect(feed.watch(execution.id));
    const [earlier, later] = [...children].sort((x, y) => Number(BigInt(x.changeSeq) - BigInt(y.changeSeq)));
    const resumed = collect(feed.watch(execution.id, { since: earlier!.changeSeq }));
    await waitFor(() => late.rows.length >= 3, { message: "the late watch's snapshot" });
    assert.deepEqual(new Set(late.rows.map((row) => row.id)), new Set([execution.rootTaskId, ...children.map((child) => child.id)]));
    await waitFor(() => has(resumed.rows, later!.id, 'running'), { message: "the resumed watch's window" });
    assert.equal(has(resumed.rows, earlier!.id, 'running'), false, 'a row at or before `since` is not sent again');

    const readsBefore = reads.filter((id) => id === children[0]!.id).length;
    gates.open(a);
    for (const { rows } of [...watches, late]) await waitFor(() => has(rows, children[0]!.id, 'completed'), { message: 'the completion in every watch' });
    const readsOfCompletion = reads.filter((id) => id === children[0]!.id).length - readsBefore;
    assert.ok(readsOfCompletion >= 1 && readsOfCompletion < 5, `five watches of one feed read the completed task ${readsOfCompletion} times`);

    gates.open(b);
    await Promise.all([...watches, late, resumed].map((watch) => watch.done));
    for (const { rows } of [...watches, late, resumed]) {
      assertVersionsIncreasePerTask(rows);
      assert.equal(latest(rows).get(execution.rootTaskId)?.state, 'completed');
    }
    assert.equal(feed.feedCount, 0, 'the feed stops with the execution');
  });

  it('stops the shared feed when its last watch leaves, and starts afresh for the next', async () => {
    const feed = feedOf(true);
    const { execution } = await engine.senpuki.submit('fanOut', [['leaves']]);
    const controllers = [new AbortController(), new AbortController()];
    const watches = controllers.map((controller) => collect(feed.watch(execution.id, { signal: controller.signal })));
    for (const { rows } of watches) await waitFor(() => rows.length >= 1, { message: 'the snapshot' });
    const channelsWatched = engine.senpuki.notifications.subscribedChannelCount;
    controllers[0]!.abort();
    await watches[0]!.done;
    assert.equal(feed.feedCount, 1, 'one watch is still on it');
    controllers[1]!.abort();
    await watches[1]!.done;
    assert.equal(feed.feedCount, 0);
    if (channelsWatched !== undefined) await waitFor(() => engine.senpuki.notifications.subscribedChannelCount! <= channelsWatched - 2, { message: "the execution's channels left" });
    const again = collect(feed.watch(execution.id));
    gates.open('leaves');
    await again.done;
    assert.equal(latest(again.rows).get(execution.rootTaskId)?.state, 'completed');
  });

  it('waits past a timed-out execution for its running task to be cancelled', async () => {
    const { execution } = await engine.senpuki.submit('hangs', [], { maxDuration: '300ms' });
    const { rows, done } = collect(feedOf(true).watch(execution.id));
    await done;
    assert.equal((await engine.senpuki.stateOf(execution.id)).state, 'timed_out');
    assert.equal(latest(rows).get(execution.rootTaskId)?.state, 'cancelled');
  });
});

describe('execution tasks feed over real notifications (postgres store)', { skip: !(await postgresReachable()) && 'Postgres is not reachable' }, () => {
  let testStore: TestStore;
  before(async () => {
    testStore = await openPostgresTestStore();
  });
  after(() => testStore.dispose());

  /** A worker process (its own Senpuki and backend connection) and a feed on another, sharing the store. */
  async function run(t: { after: (fn: () => Promise<void>) => void }, open: () => EngineBackend) {
    const gates = new Gates();
    const workerSide = open();
    const feedSide = open();
    const worker = new Senpuki({ store: testStore.store, notifications: workerSide, ...NO_POLLING });
    register(worker, gates);
    const running = await worker.serve({ concurrency: 4 });
    t.after(async () => {
      gates.openAll();
      await running.stop();
      await Promise.all([workerSide.close(), feedSide.close()]);
    });
    const feed = new ExecutionTasksFeed({ store: testStore.store, notifications: feedSide, pushReachesAllWriters: true, ...NO_POLLING });
    const key = `pushed-${Math.random()}`;
    const { execution } = await worker.submit('fanOut', [[key]]);
    const { rows, done } = collect(feed.watch(execution.id));
    await waitFor(() => rows.some((row) => row.parentTaskId === execution.rootTaskId && row.state === 'running'), { message: 'the child to run' });
    gates.open(key);
    await done;
    assert.deepEqual([...latest(rows).values()].map((task) => task.state), ['completed', 'completed']);
    return execution;
  }

  it('follows the tasks of an execution run by another process through Redis', async (t) => {
    if (!(await requireRedis(t))) return;
    const raw = new Redis(redisUrl);
    const messages: string[] = [];
    raw.on('pmessage', (_pattern: string, channel: string, message: string) => messages.push(`${channel} ${message}`));
    await raw.psubscribe('senpuki:execution-tasks:*');
    try {
      const execution = await run(t, () => new RedisBackend(redisUrl));
      // The spec's task message format, on the execution's own channel.
      const expected = `${executionTasksChannel(execution.id)} {"task_id": "${execution.rootTaskId}", "state": "completed"}`;
      await waitFor(() => messages.includes(expected), { message: expected });
    } finally {
      raw.disconnect();
    }
  });

  it('follows the tasks of an execution run by another process through Postgres LISTEN/NOTIFY', async (t) => {
    await run(t, () => new PostgresNotifyBackend(postgresUrl));
  });
});
