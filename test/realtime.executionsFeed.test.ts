import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ExecutionRecord } from '../server/domain/types.js';
import { ExecutionsFeed } from '../server/realtime/executionsFeed.js';
import { StreamFailure, liveStream } from '../server/realtime/liveStream.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine, type TestEngine } from './helpers/engine.js';

/** Collects a feed's rows in the background until aborted. */
function collect(feed: AsyncGenerator<ExecutionRecord>): { rows: ExecutionRecord[]; done: Promise<void> } {
  const rows: ExecutionRecord[] = [];
  const done = (async () => {
    for await (const row of feed) rows.push(row);
  })();
  return { rows, done };
}

describe('executions feed (list subscriptions)', () => {
  let engine: TestEngine;
  before(async () => {
    engine = await openEngine('pglite');
    engine.senpuki.durable('listed', async () => null);
    engine.senpuki.durable('other', async () => null);
  });
  after(() => engine.close());

  const feedOf = (push: boolean) =>
    new ExecutionsFeed({
      store: engine.senpuki.store,
      notifications: push ? engine.senpuki.notifications : undefined,
      pushReachesAllWriters: push,
      pollMinIntervalMs: 20,
      pollMaxIntervalMs: push ? 60_000 : 200,
    });

  for (const push of [true, false]) {
    it(`emits each change of matching executions only, ${push ? 'pushed' : 'by polling alone'}`, async () => {
      const feed = feedOf(push);
      const controller = new AbortController();
      const since = await feed.currentCursor();
      const { rows, done } = collect(feed.watch({ functionName: 'listed' }, { since, signal: controller.signal }));
      const id = await engine.senpuki.dispatch('listed', [], { delay: '1h' });
      await engine.senpuki.dispatch('other', [], { delay: '1h' });
      await waitFor(() => rows.some((row) => row.id === id), { message: 'the new execution' });
      await engine.senpuki.cancel(id);
      await waitFor(() => rows.some((row) => row.id === id && row.state === 'cancelled'), { message: 'the cancellation' });
      controller.abort();
      await done;
      assert.deepEqual(rows.map((row) => [row.functionName, row.state]), [['listed', 'pending'], ['listed', 'cancelled']]);
      assert.ok(rows[1]!.version > rows[0]!.version);
    });
  }

  it('emits the change that takes a row out of a state filter, then forgets it', async () => {
    const feed = feedOf(true);
    const controller = new AbortController();
    const { rows, done } = collect(feed.watch({ functionName: 'listed', state: 'pending' }, { since: await feed.currentCursor(), signal: controller.signal }));
    const id = await engine.senpuki.dispatch('listed', [], { delay: '1h' });
    await waitFor(() => rows.length === 1, { message: 'the pending row' });
    await engine.senpuki.cancel(id);
    await waitFor(() => rows.length === 2, { message: 'the row leaving the view' });
    controller.abort();
    await done;
    assert.deepEqual(rows.map((row) => row.state), ['pending', 'cancelled']);
  });

  it('runs one feed per filter for every watch of it, and one more for another filter', async () => {
    const feed = feedOf(true);
    const controller = new AbortController();
    const { signal } = controller;
    const since = await feed.currentCursor();
    const first = collect(feed.watch({ functionName: 'listed', state: ['pending', 'cancelled'] }, { since, signal }));
    const second = collect(feed.watch({ state: ['cancelled', 'pending'], functionName: 'listed' }, { signal }));
    const other = collect(feed.watch({ functionName: 'other' }, { signal }));
    await waitFor(() => feed.feedCount === 2, { message: 'two feeds: one per filter' });
    const id = await engine.senpuki.dispatch('listed', [], { delay: '1h' });
    await engine.senpuki.cancel(id);
    for (const { rows } of [first, second]) await waitFor(() => rows.some((row) => row.id === id && row.state === 'cancelled'), { message: 'the cancellation in both watches' });
    controller.abort();
    await Promise.all([first.done, second.done, other.done]);
    assert.deepEqual(first.rows.filter((row) => row.id === id).map((row) => row.state), ['pending', 'cancelled']);
    assert.equal(other.rows.length, 0);
    assert.equal(feed.feedCount, 0);
  });

  it('lets a watch that stops reading fall behind without holding its rows, then re-reads what it missed', async () => {
    const catchUps: string[] = [];
    const store = engine.senpuki.store;
    const countingStore = new Proxy(store, {
      get(target, property) {
        if (property === 'listExecutionsChangedAfter') return (...args: Parameters<typeof store.listExecutionsChangedAfter>) => (catchUps.push(args[1]), target.listExecutionsChangedAfter(...args));
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const feed = new ExecutionsFeed({
      store: countingStore,
      notifications: engine.senpuki.notifications,
      pushReachesAllWriters: true,
      pollMinIntervalMs: 60_000,
      pollMaxIntervalMs: 60_000,
      maxTrackedRows: 4,
    });
    const controller = new AbortController();
    const tag = `stalled-${Math.random()}`;
    const since = await feed.currentCursor();
    const reader = collect(feed.watch({ tag }, { since, signal: controller.signal }));
    const stalled = feed.watch({ tag }, { since, signal: controller.signal });
    const firstId = await engine.senpuki.dispatch('listed', [], { delay: '1h', tags: [tag] });
    const first = await stalled.next();
    assert.equal(first.value?.id, firstId);
    const ids = [firstId];
    for (let i = 0; i < 12; i++) ids.push(await engine.senpuki.dispatch('listed', [], { delay: '1h', tags: [tag] }));
    await waitFor(() => ids.every((id) => reader.rows.some((row) => row.id === id)), { message: 'every dispatch in the watch that reads' });
    const catchUpsBefore = catchUps.length;
    const rest: ExecutionRecord[] = [];
    while (!ids.slice(1).every((id) => rest.some((row) => row.id === id))) rest.push((await stalled.next()).value!);
    assert.ok(catchUps.length > catchUpsBefore, 'what the stalled watch missed came from a read of the store, not rounds held for it');
    assert.equal(new Set(rest.map((row) => row.id)).size, rest.length, 'each row once');
    controller.abort();
    await stalled.return(undefined);
    await reader.done;
  });

  it('resumes after a change sequence number without repeating older changes', async () => {
    const first = await engine.senpuki.dispatch('listed', [], { delay: '1h', tags: ['resume'] });
    const cursor = (await engine.senpuki.stateOf(first)).changeSeq;
    const second = await engine.senpuki.dispatch('listed', [], { delay: '1h', tags: ['resume'] });
    const controller = new AbortController();
    const { rows, done } = collect(feedOf(false).watch({ tag: 'resume' }, { since: cursor, signal: controller.signal }));
    await waitFor(() => rows.length >= 1, { message: 'the catch-up' });
    controller.abort();
    await done;
    assert.deepEqual(rows.map((row) => row.id), [second]);
  });
});

describe('live streams', () => {
  it('end a parked feed at once on return(), without waiting for its next change', async () => {
    let aborted = false;
    const stream = liveStream(async function* (signal) {
      yield 1;
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      aborted = true;
    });
    assert.deepEqual(await stream.next(), { done: false, value: 1 });
    const pending = stream.next();
    assert.deepEqual(await stream.return!(), { done: true, value: undefined });
    assert.equal(aborted, true);
    assert.deepEqual(await pending, { done: true, value: undefined });
  });

  it('deliver a failure in-band and complete at a deadline, and count themselves closed once', async () => {
    let closed = 0;
    const stream = liveStream(
      async function* (signal) {
        yield 'snapshot';
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      },
      { deadline: { at: new Date(Date.now() + 50), error: () => new Error('expired') }, onClose: () => closed++ },
    );
    const events: unknown[] = [];
    // The deadline timer is unref'd (a socket keeps a real server alive); hold the loop here.
    const keepAlive = setInterval(() => {}, 1000);
    try {
      for await (const event of stream) events.push(event);
    } finally {
      clearInterval(keepAlive);
    }
    assert.equal(events[0], 'snapshot');
    assert.ok(events[1] instanceof StreamFailure);
    assert.equal(((events[1] as StreamFailure).error as Error).message, 'expired');
    assert.equal(events.length, 2);
    assert.equal(closed, 1);
  });

  it('turn an error thrown by the feed into one failure event', async () => {
    const stream = liveStream(async function* () {
      yield 'a';
      throw new Error('store down');
    });
    const events: unknown[] = [];
    for await (const event of stream) events.push(event);
    assert.equal(events.length, 2);
    assert.equal(((events[1] as StreamFailure).error as Error).message, 'store down');
  });
});
