import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { StreamChunk } from '../server/domain/types.js';
import { NonRetryableError } from '../server/errors.js';
import { waitFor } from './helpers/conditions.js';
import { openEngine, type TestEngine } from './helpers/engine.js';
import { Gates } from './helpers/gates.js';
import { storeKinds } from './helpers/stores.js';
import { readStreamToEnd } from './helpers/streams.js';

/** [seq, run, data] of each chunk. */
const triples = (chunks: StreamChunk[]) => chunks.map(({ seq, run, data }) => [seq, run, data]);

const RETRY_AT_ONCE = { retry: { maxAttempts: 3, initialDelayMs: 0, jitter: 0 } };

for (const kind of await storeKinds()) {
  describe(`streams across re-runs of their task (${kind})`, () => {
    let engine: TestEngine;
    const gates = new Gates();
    before(async () => {
      engine = await openEngine(kind);
      await engine.senpuki.serve({ concurrency: 4 });
    });
    after(async () => {
      gates.openAll();
      await engine.close();
    });

    it('a retry that writes the same chunks again adds only what is new: a reader sees every chunk once', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('retriedSame', async (ctx) => {
        const out = ctx.stream<string>('log');
        await out.write('fetching');
        await out.write('parsing');
        if (ctx.attempt === 1) {
          await gates.wait('retriedSame'); // the reader has both chunks by now
          throw new Error('connection reset');
        }
        await out.write('saving');
        return ctx.attempt;
      }, RETRY_AT_ONCE);
      const id = await senpuki.dispatch(fn, []);
      const seen: StreamChunk[] = [];
      const reading = (async () => {
        for await (const chunk of senpuki.readStream(id, 'log', { signal: AbortSignal.timeout(15_000) })) seen.push(chunk);
      })();
      await waitFor(() => seen.length === 2, { message: 'the first attempt\'s chunks' });
      gates.open('retriedSame');
      assert.equal(await senpuki.waitFor(id), 2);
      await reading;
      assert.deepEqual(triples(seen), [[1, 1, 'fetching'], [2, 1, 'parsing'], [3, 1, 'saving']]);
    });

    it('a retry that writes something else starts the next run: the chunks seen stay, the new run holds its whole output', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('retriedDifferent', async (ctx) => {
        const out = ctx.stream<string>('answer');
        const words = ctx.attempt === 1 ? ['The', 'quick', 'brown'] : ['The', 'slow', 'grey', 'fox'];
        for (const word of words) await out.write(word);
        if (ctx.attempt === 1) throw new Error('model overloaded');
        return words.join(' ');
      }, RETRY_AT_ONCE);
      const id = await senpuki.dispatch(fn, []);
      assert.equal(await senpuki.waitFor(id), 'The slow grey fox');
      const chunks = await readStreamToEnd(senpuki, id, 'answer');
      assert.deepEqual(triples(chunks), [
        [1, 1, 'The'], [2, 1, 'quick'], [3, 1, 'brown'],
        [4, 2, 'The'], [5, 2, 'slow'], [6, 2, 'grey'], [7, 2, 'fox'],
      ]);
      const latestRun = Math.max(...chunks.map((chunk) => chunk.run));
      assert.equal(chunks.filter((chunk) => chunk.run === latestRun).map((chunk) => chunk.data).join(' '), 'The slow grey fox', 'the latest run is the output of the attempt that completed');
      const [stream] = await senpuki.listStreams(id);
      assert.deepEqual([stream!.length, stream!.run, stream!.closed], [7, 2, true]);
    });

    it('a retry that completes with fewer chunks than the stream holds starts a run with exactly its chunks', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('retriedShorter', async (ctx) => {
        const out = ctx.stream<number>('rows');
        const count = ctx.attempt === 1 ? 3 : 2;
        for (let row = 1; row <= count; row++) await out.write(row);
        if (ctx.attempt === 1) throw new Error('disk full');
        return count;
      }, RETRY_AT_ONCE);
      const id = await senpuki.dispatch(fn, []);
      await senpuki.waitFor(id);
      assert.deepEqual(triples(await readStreamToEnd(senpuki, id, 'rows')), [[1, 1, 1], [2, 1, 2], [3, 1, 3], [4, 2, 1], [5, 2, 2]]);
    });

    it('matches re-written chunks by value, whatever the key order of their objects', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('retriedObjects', async (ctx) => {
        const out = ctx.stream('rows');
        await out.write(ctx.attempt === 1 ? { id: 1, tags: ['a'], nested: { x: 1, y: 2 } } : { nested: { y: 2, x: 1 }, tags: ['a'], id: 1 });
        if (ctx.attempt === 1) throw new Error('flaky');
        await out.write({ id: 2 });
        return null;
      }, RETRY_AT_ONCE);
      const id = await senpuki.dispatch(fn, []);
      await senpuki.waitFor(id);
      assert.deepEqual(triples(await readStreamToEnd(senpuki, id, 'rows')), [[1, 1, { id: 1, tags: ['a'], nested: { x: 1, y: 2 } }], [2, 1, { id: 2 }]]);
    });

    it('an orchestrator resumed on another worker writes nothing twice', async () => {
      const { senpuki } = engine;
      const runs: number[] = [];
      const fn = senpuki.durable('resumedOrchestrator', async (ctx) => {
        runs.push(ctx.attempt);
        const out = ctx.stream<string>('steps');
        await out.write('started');
        await out.write('waiting for approval');
        const { by } = await ctx.waitForSignal<{ by: string }>('approve');
        await out.write(`approved by ${by}`);
        return by;
      });
      // A worker of its own, stopped while the orchestrator waits: it is handed back, and a new worker resumes it.
      const first = await senpuki.serve({ concurrency: 1, queues: ['handover'] });
      const id = await senpuki.dispatch(fn, [], { queue: 'handover' });
      await waitFor(async () => (await senpuki.listTasks(id)).some((task) => task.kind === 'signal' && task.state === 'waiting'), { message: 'the signal wait' });
      await first.stop();
      await senpuki.sendSignal(id, 'approve', { by: 'ana' });
      const second = await senpuki.serve({ concurrency: 1, queues: ['handover'] });
      try {
        assert.equal(await senpuki.waitFor(id, { timeoutMs: 15_000 }), 'ana');
      } finally {
        await second.stop();
      }
      assert.equal(runs.length, 2, 'the orchestrator ran twice');
      assert.deepEqual(runs, [1, 1], 'as the same attempt: a replay, not a retry');
      assert.deepEqual(triples(await readStreamToEnd(senpuki, id, 'steps')), [[1, 1, 'started'], [2, 1, 'waiting for approval'], [3, 1, 'approved by ana']]);
    });

    it('a stream an earlier run closed stays as it was: what a retry writes to it is dropped', async () => {
      const { senpuki } = engine;
      const fn = senpuki.durable('closedThenRetried', async (ctx) => {
        const out = ctx.stream<string>('answer');
        await out.write(ctx.attempt === 1 ? 'first answer' : 'second answer');
        await out.close();
        if (ctx.attempt === 1) throw new Error('saving the answer failed');
        return ctx.attempt;
      }, RETRY_AT_ONCE);
      const id = await senpuki.dispatch(fn, []);
      assert.equal(await senpuki.waitFor(id), 2);
      assert.deepEqual(triples(await readStreamToEnd(senpuki, id, 'answer')), [[1, 1, 'first answer']]);
    });

    it('a stream closed because its task failed for good opens again when the dead letter is replayed', async () => {
      const { senpuki } = engine;
      let runs = 0;
      const fn = senpuki.durable('failsThenReplayed', async (ctx) => {
        runs += 1;
        const out = ctx.stream<string>('log');
        await out.write('step 1');
        if (runs === 1) throw new NonRetryableError('step 2 failed');
        await out.write('step 2');
        return 'recovered';
      });
      const id = await senpuki.dispatch(fn, []);
      await assert.rejects(senpuki.waitFor(id), /step 2 failed/);
      assert.deepEqual(triples(await readStreamToEnd(senpuki, id, 'log')), [[1, 1, 'step 1']], 'closed with its task');
      const [letter] = await senpuki.listDeadLetters({ executionId: id });
      await senpuki.replayDeadLetter(letter!.id);
      assert.equal(await senpuki.waitFor(id), 'recovered');
      assert.deepEqual(triples(await readStreamToEnd(senpuki, id, 'log')), [[1, 1, 'step 1'], [2, 1, 'step 2']]);
    });
  });
}
