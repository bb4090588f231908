import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StreamFeed } from '../server/realtime/streamFeed.js';
import type { Store } from '../server/store/store.js';
import type { StreamChunk } from '../server/domain/types.js';
import { ConflictError, NotFoundError, SenpukiError, ValidationError } from '../server/errors.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { Gates } from './helpers/gates.js';
import { storeKinds } from './helpers/stores.js';
import { readStreamToEnd } from './helpers/streams.js';

const dataOf = (chunks: StreamChunk[]) => chunks.map((chunk) => chunk.data);
const seqsOf = (chunks: StreamChunk[]) => chunks.map((chunk) => chunk.seq);
const oneTo = (count: number) => Array.from({ length: count }, (_, index) => index + 1);

for (const kind of await storeKinds()) {
  describe(`streams written by durable functions (${kind})`, () => {
    let engine: TestEngine;
    const gates = new Gates();
    before(async () => {
      engine = await openEngine(kind, { streamLimits: { maxChunks: 20_000, maxStreams: 5, maxChunkBytes: 1024 } });
      await engine.senpuki.serve({ concurrency: 8 });
    });
    after(async () => {
      gates.openAll();
      await engine.close();
    });

    it('numbers chunks from 1 and gives a reader the backlog, then each chunk live, ending when the task ends', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('liveWords', async (ctx) => {
        const out = ctx.stream<string>('answer');
        await out.write('one');
        await out.write('two');
        await gates.wait('liveWords');
        await out.write('three');
        return 'done'; // no close(): the end of the task closes the stream
      });
      const id = await senpuki.dispatch(fn, []);
      const seen: StreamChunk[] = [];
      const reading = (async () => {
        for await (const chunk of senpuki.readStream(id, 'answer', { signal: AbortSignal.timeout(15_000) })) seen.push(chunk);
      })();
      await waitFor(() => seen.length === 2, { message: 'the backlog' });
      gates.open('liveWords');
      await reading;
      assert.deepEqual(seen, [
        { seq: 1, run: 1, data: 'one' },
        { seq: 2, run: 1, data: 'two' },
        { seq: 3, run: 1, data: 'three' },
      ]);
      assert.deepEqual(dataOf(await readStreamToEnd(senpuki, id, 'answer', 1)), ['two', 'three'], 'after: only later chunks');
    });

    it('keeps several named streams of one execution apart and lists them with their lengths', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('twoStreams', async (ctx) => {
        const log = ctx.stream('log');
        const rows = ctx.stream<{ row: number }>('rows');
        await log.write('start');
        for (let row = 1; row <= 3; row++) await rows.write({ row });
        await rows.close();
        await log.write('end');
        return null;
      });
      const id = await senpuki.dispatch(fn, []);
      assert.deepEqual(dataOf(await readStreamToEnd(senpuki, id, 'rows')), [{ row: 1 }, { row: 2 }, { row: 3 }]);
      assert.deepEqual(dataOf(await readStreamToEnd(senpuki, id, 'log')), ['start', 'end']);
      await senpuki.waitFor(id);
      const streams = await senpuki.listStreams(id);
      assert.deepEqual(streams.map(({ name, length, closed, run }) => ({ name, length, closed, run })).sort((a, b) => a.name.localeCompare(b.name)), [
        { name: 'log', length: 2, closed: true, run: 1 },
        { name: 'rows', length: 3, closed: true, run: 1 },
      ]);
      const root = (await senpuki.stateOf(id)).rootTaskId;
      assert.ok(streams.every((stream) => stream.taskId === root && stream.executionId === id));
    });

    it('writes a tight loop of 10,000 chunks in a few statements, every chunk in order', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('tightStream', async (ctx, count: number) => {
        const out = ctx.stream<number>('numbers');
        for (let i = 1; i <= count; i++) await out.write(i);
        return count;
      });
      const id = await senpuki.dispatch(fn, [10_000]);
      const chunks = await readStreamToEnd(senpuki, id, 'numbers');
      assert.deepEqual(seqsOf(chunks), oneTo(10_000));
      assert.deepEqual(dataOf(chunks), oneTo(10_000));
      const { rows } = await senpuki.store.db.query<{ batches: number }>(
        `SELECT count(*)::int AS batches FROM senpuki_stream_chunks WHERE execution_id = $1 AND name = 'numbers'`,
        [id],
      );
      // Batches fill while the previous one is written: their size follows the store's speed, but never one chunk each.
      assert.ok(rows[0]!.batches <= 100, `${rows[0]!.batches} statements for 10,000 writes`);
    });

    it('completes readers at close() while the task runs on, and refuses writes after it', async () => {
      const { senpuki } = engine;
      let lateWrite: unknown;
      const fn = senpuki.durable('closesEarly', async (ctx) => {
        const out = ctx.stream('answer');
        await out.write('final answer');
        await out.close();
        await out.close(); // closing twice is fine
        await gates.wait('closesEarly');
        lateWrite = await out.write('too late').catch((error: unknown) => error);
        return 'saved';
      });
      const id = await senpuki.dispatch(fn, []);
      assert.deepEqual(dataOf(await readStreamToEnd(senpuki, id, 'answer')), ['final answer']);
      assert.equal((await senpuki.stateOf(id)).state, 'running', 'the reader completed before the task did');
      gates.open('closesEarly');
      assert.equal(await senpuki.waitFor(id), 'saved');
      assert.ok(lateWrite instanceof ValidationError);
      assert.match((lateWrite as Error).message, /Stream "answer" is closed/);
    });

    it('waits for a stream no task has opened yet, and ends a stream never written when its execution ends', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('opensLater', async (ctx, write: boolean) => {
        await gates.wait(`opensLater-${write}`);
        if (write) await ctx.stream('late').write('here');
        return write;
      });
      const writing = await senpuki.dispatch(fn, [true]);
      const silent = await senpuki.dispatch(fn, [false]);
      const reads = [readStreamToEnd(senpuki, writing, 'late'), readStreamToEnd(senpuki, silent, 'late')];
      gates.open('opensLater-true');
      gates.open('opensLater-false');
      const [written, never] = await Promise.all(reads);
      assert.deepEqual(dataOf(written!), ['here']);
      assert.deepEqual(never, []);
      assert.deepEqual(await senpuki.listStreams(silent), []);
    });

    it('ends its readers when the execution is cancelled', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('cancelledWriter', async (ctx) => {
        await ctx.stream('answer').write('partial');
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
        return 'never';
      });
      const id = await senpuki.dispatch(fn, []);
      const reading = readStreamToEnd(senpuki, id, 'answer');
      await waitFor(async () => (await senpuki.listStreams(id))[0]?.length === 1, { message: 'the first chunk' });
      await senpuki.cancel(id);
      assert.deepEqual(dataOf(await reading), ['partial']);
    });

    it('says what to fix for a chunk that is too large or not JSON, and for a bad stream name', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('badChunks', async (ctx) => {
        const out = ctx.stream<unknown>('answer');
        const errors = await Promise.all([out.write('x'.repeat(2000)), out.write({ when: new Date(0) }), out.write(() => 1)].map((write) => write.catch((error: Error) => error)));
        let badName: unknown;
        try {
          ctx.stream('');
        } catch (error) {
          badName = error;
        }
        await out.write('fine');
        return [...errors, badName].map((error) => `${(error as Error).name}: ${(error as Error).message}`);
      });
      const id = await senpuki.dispatch(fn, []);
      const messages = (await senpuki.waitFor(id)) as string[];
      assert.match(messages[0]!, /^ValidationError: A chunk of stream "answer" is 2002 bytes of JSON; the limit is 1024 \(streamLimits\.maxChunkBytes\)/);
      assert.match(messages[1]!, /^ValidationError: stream "answer" chunk\.when is a Date/);
      assert.match(messages[2]!, /^ValidationError: stream "answer" chunk is a function/);
      assert.match(messages[3]!, /^ValidationError: ctx\.stream\(name\) must be a non-empty string/);
      assert.deepEqual(dataOf(await readStreamToEnd(senpuki, id, 'answer')), ['fine'], 'refused chunks take no seq');
    });

    it('refuses a chunk past streamLimits.maxChunks and a stream past streamLimits.maxStreams, the function going on', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('overLimits', async (ctx) => {
        const out = ctx.stream<number>('full');
        for (let i = 1; i <= 20_000; i++) await out.write(i);
        const overflow = await out.write(20_001).catch((error: SenpukiError) => error);
        for (let i = 1; i <= 4; i++) await ctx.stream(`extra-${i}`).write(i);
        const tooMany = await ctx.stream('extra-5').write(5).catch((error: SenpukiError) => error);
        return [overflow, tooMany].map((error) => `${(error as SenpukiError).code}: ${(error as Error).message}`);
      });
      const id = await senpuki.dispatch(fn, []);
      const [overflow, tooMany] = (await senpuki.waitFor(id, { timeoutMs: 30_000 })) as string[];
      assert.match(overflow!, /^LIMIT_EXCEEDED: Stream "full" holds 20000 chunks, the limit \(streamLimits\.maxChunks\)/);
      assert.match(tooMany!, /^LIMIT_EXCEEDED: Execution .* has 5 streams, the limit \(streamLimits\.maxStreams\)/);
      assert.equal((await senpuki.listStreams(id)).find((stream) => stream.name === 'full')!.length, 20_000);
    });

    it('lets one task write a stream: another task writing the same name gets a ConflictError', async () => {
      const { senpuki } = engine;
      const child = senpuki.durable('intruder', async (ctx) => {
        const error = await ctx.stream('shared').write('mine?').catch((caught: Error) => caught);
        return error instanceof ConflictError ? error.message : 'written';
      });
      const parent = senpuki.durable('owner', async (ctx) => {
        await ctx.stream('shared').write('mine');
        return ctx.call(child);
      });
      const id = await senpuki.dispatch(parent, []);
      assert.match((await senpuki.waitFor(id)) as string, /^Stream "shared" of execution .* is written by task .*; a stream has one writer/);
      assert.deepEqual(dataOf(await readStreamToEnd(senpuki, id, 'shared')), ['mine']);
    });

    it('lets readers at the same position share one read of the store', async () => {
      const { senpuki } = engine;
      let reads = 0;
      const store = new Proxy(senpuki.store, {
        get(target, property, receiver) {
          if (property === 'readStream') return (...args: Parameters<Store['readStream']>) => (reads++, target.readStream(...args));
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const feed = new StreamFeed({ store, pushReachesAllWriters: true, notifications: senpuki.notifications });
      const fn = senpuki.durable('manyReaders', async (ctx) => {
        await ctx.stream('answer').write('shared');
        return null;
      });
      const id = await senpuki.dispatch(fn, []);
      await senpuki.waitFor(id);
      const readers = Array.from({ length: 50 }, async () => {
        const events = [];
        for await (const event of feed.watch(id, 'answer')) events.push(event);
        return events;
      });
      for (const events of await Promise.all(readers)) assert.deepEqual(events, [{ chunks: [{ seq: 1, run: 1, data: 'shared' }], closed: true }]);
      assert.equal(reads, 1, '50 readers, one read');
    });

    it('rejects readStream of an unknown execution and a bad position', async () => {
      const { senpuki } = engine;
      await assert.rejects(readStreamToEnd(senpuki, '00000000-0000-4000-8000-000000000000', 'answer'), NotFoundError);
      const id = await senpuki.dispatch('liveWords', []);
      await assert.rejects(readStreamToEnd(senpuki, id, 'answer', -1), /after must be the last seq you have, an integer of at least 0/);
      await senpuki.cancel(id);
    });

    it('removes streams and their chunks with their execution (retention)', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('retained', async (ctx) => {
        for (let i = 0; i < 3; i++) await ctx.stream('answer').write(i);
        return null;
      });
      const id = await senpuki.dispatch(fn, []);
      await senpuki.waitFor(id);
      const count = async () => {
        const { rows } = await senpuki.store.db.query<{ streams: number; batches: number }>(
          `SELECT (SELECT count(*)::int FROM senpuki_streams WHERE execution_id = $1) AS streams,
                  (SELECT count(*)::int FROM senpuki_stream_chunks WHERE execution_id = $1) AS batches`,
          [id],
        );
        return rows[0]!;
      };
      assert.ok((await count()).batches > 0);
      await waitFor(async () => (await senpuki.purgeExpired({ completedMs: 0 })).executions > 0 || !(await senpuki.store.getExecution(id)), { message: 'the execution purged' });
      assert.deepEqual(await count(), { streams: 0, batches: 0 });
      await assert.rejects(senpuki.listStreams(id), NotFoundError);
    });
  });
}
