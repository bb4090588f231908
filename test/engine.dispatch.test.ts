import assert from 'node:assert/strict';
import { it } from 'node:test';
import { NotFoundError, SenpukiError, ValidationError } from '../server/errors.js';
import { waitFor as until } from './helpers/conditions.js';
import { countClaims } from './helpers/claimCounter.js';
import { describeOnEachStore } from './helpers/engine.js';
import { Gates } from './helpers/gates.js';

await describeOnEachStore('dispatch and waitFor', (engine, kind) => {
  it('returns the result of a workflow that calls children, sleeps and fans out', async () => {
    const { senpuki } = engine;
    const double = senpuki.durable('double', async (_ctx, x: number) => x * 2);
    const add = senpuki.durable('add', async (_ctx, a: number, b: number) => a + b);
    const flow = senpuki.durable('flow', async (ctx, xs: number[]) => {
      const doubled = await ctx.map(double, xs);
      await ctx.sleep('30ms');
      return ctx.call(add, doubled.reduce((a, b) => a + b, 0), 100);
    });
    const worker = await senpuki.serve({ concurrency: 4 });
    try {
      const id = await senpuki.dispatch(flow, [[1, 2, 3]]);
      const result: number = await senpuki.waitFor(id, { timeoutMs: 20_000 });
      assert.equal(result, 112);
      const tasks = await senpuki.listTasks(id);
      assert.deepEqual(
        tasks.map((task) => `${task.kind}:${task.functionName}:${task.state}`),
        ['function:flow:completed', 'function:double:completed', 'function:double:completed', 'function:double:completed', 'sleep:sleep:completed', 'function:add:completed'],
      );
      const root = tasks[0]!;
      assert.deepEqual(tasks.slice(1).map((task) => task.callKey), [0, 1, 2, 3, 4].map((n) => `${root.id}:${n}`));
      const execution = await senpuki.stateOf(id);
      assert.equal(execution.state, 'completed');
      assert.ok(execution.startedAt && execution.finishedAt && execution.finishedAt >= execution.startedAt);
    } finally {
      await worker.stop();
    }
  });

  it('completes a workflow with children on a worker with one slot, since waiting frees the slot', async () => {
    const { senpuki } = engine;
    const leaf = senpuki.durable('leaf', async (_ctx, n: number) => n + 1);
    const middle = senpuki.durable('middle', async (ctx, n: number) => ctx.call(leaf, n));
    const top = senpuki.durable('top', async (ctx) => (await ctx.map(middle, [1, 2, 3])).join(','));
    const worker = await senpuki.serve({ concurrency: 1 });
    try {
      assert.equal(await senpuki.waitFor(await senpuki.dispatch(top, []), { timeoutMs: 20_000 }), '2,3,4');
    } finally {
      await worker.stop();
    }
  });

  it('fans out over 1,000 items', async () => {
    const { senpuki } = engine;
    const square = senpuki.durable('square', async (_ctx, n: number) => n * n);
    const sumOfSquares = senpuki.durable('sumOfSquares', async (ctx, count: number) => {
      const squares = await ctx.map(square, Array.from({ length: count }, (_, i) => i));
      return squares.reduce((a, b) => a + b, 0);
    });
    const worker = await senpuki.serve({ concurrency: 20 });
    try {
      const id = await senpuki.dispatch(sumOfSquares, [1000]);
      assert.equal(await senpuki.waitFor(id, { timeoutMs: 120_000 }), 332_833_500);
      assert.equal((await senpuki.listTasks(id)).length, 1001);
    } finally {
      await worker.stop();
    }
  });

  it('increases a row version by one on every write and orders writes by a global sequence', async () => {
    const { senpuki } = engine;
    const noop = senpuki.durable('noop', async () => 'ok');
    const id = await senpuki.dispatch(noop, []);
    const pending = await senpuki.stateOf(id);
    assert.equal(pending.version, 1);
    const worker = await senpuki.serve();
    try {
      await senpuki.waitFor(id, { timeoutMs: 10_000 });
    } finally {
      await worker.stop();
    }
    const done = await senpuki.stateOf(id);
    assert.equal(done.version, 3); // pending → running → completed
    assert.ok(BigInt(done.changeSeq) > BigInt(pending.changeSeq));
    const root = await senpuki.getTask(done.rootTaskId);
    assert.equal(root.state, 'completed');
    assert.ok(root.version >= 3);
  });

  it('returns the same execution for a repeated idempotency key', async () => {
    const { senpuki } = engine;
    const once = senpuki.durable('once', async () => 1);
    const [a, b] = await Promise.all([
      senpuki.dispatch(once, [], { idempotencyKey: `order-${kind}` }),
      senpuki.dispatch(once, [], { idempotencyKey: `order-${kind}` }),
    ]);
    assert.equal(a, b);
    assert.equal(await senpuki.countExecutions({ functionName: 'once' }), 1);
  });

  it('lists executions newest first with keyset paging and filters', async () => {
    const { senpuki } = engine;
    const tagged = senpuki.durable('tagged', async () => null);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await senpuki.dispatch(tagged, [], { tags: ['paging'] }));
    const first = await senpuki.listExecutions({ tag: 'paging' }, { limit: 3 });
    const last = first.at(-1)!;
    const second = await senpuki.listExecutions({ tag: 'paging' }, { limit: 3, after: { createdAt: last.createdAt, id: last.id } });
    assert.equal(first.length, 3);
    assert.equal(second.length, 2);
    assert.deepEqual(new Set([...first, ...second].map((e) => e.id)), new Set(ids));
    assert.equal(await senpuki.countExecutions({ tag: 'paging', state: 'pending' }), 5);
  });

  it('rejects bad input with errors that say what to fix', async () => {
    const { senpuki } = engine;
    const echo = senpuki.durable('echo', async (_ctx, value: unknown) => value);
    await assert.rejects(senpuki.dispatch('nope', []), (error: unknown) => {
      assert.ok(error instanceof NotFoundError);
      assert.match(error.message, /No durable function named "nope".*registered: .*echo/);
      return true;
    });
    await assert.rejects(senpuki.dispatch(echo, [{ when: new Date() }]), (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      assert.match(error.message, /args\[0\]\.when is a Date; pass date\.toISOString\(\) instead/);
      return true;
    });
    await assert.rejects(senpuki.dispatch(echo, [() => 1]), /args\[0\] is a function, which JSON cannot hold/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await assert.rejects(senpuki.dispatch(echo, [cyclic]), /refers back to itself/);
    await assert.rejects(senpuki.dispatch(echo, ['x'.repeat(2 * 1024 * 1024)]), /limit is 1048576 \(maxArgsBytes\)/);
    await assert.rejects(senpuki.waitFor('not-a-uuid'), (error: unknown) => {
      assert.ok(error instanceof SenpukiError);
      assert.equal(error.code, 'BAD_USER_INPUT');
      assert.match(error.message, /execution id must be a UUID/);
      return true;
    });
    await assert.rejects(senpuki.dispatch(echo, [1], { delay: -5 }), /delay must not be negative/);
    await assert.rejects(senpuki.dispatch(echo, [1], { maxDuration: 'soon' }), /maxDuration must be a number of milliseconds or a string like "500ms"/);
    await assert.rejects(senpuki.stateOf('7d444840-9dc0-11d1-b245-5ffdce74fad2'), NotFoundError);
    assert.throws(() => senpuki.durable('bad name!', async () => 1), /durable function name must be/);
    assert.throws(() => senpuki.durable('echo', async () => 1), /already registered/);
    assert.throws(() => senpuki.durable('r', async () => 1, { retry: { maxAttempts: 0 } }), /maxAttempts must be an integer of at least 1/);
  });

  it('resolves waitFor in the worker\'s process from the completion itself, with the value a read of the row gives', async () => {
    const { senpuki } = engine;
    const gates = new Gates();
    const returned = { zebra: 1, ok: true, nested: { bb: [1, { y: 2, x: null }], a: 'é' } };
    const shaped = senpuki.durable('shaped', async () => {
      await gates.wait('finish');
      return returned;
    });
    const worker = await senpuki.serve();
    const reads = { count: 0 };
    const { store } = senpuki;
    const getExecutions = store.getExecutions.bind(store);
    store.getExecutions = (ids) => {
      reads.count++;
      return getExecutions(ids);
    };
    try {
      const id = await senpuki.dispatch(shaped, []);
      const waiting = senpuki.waitFor(id, { timeoutMs: 10_000 });
      // The wait has read the row once (its snapshot) and the function is running.
      await until(async () => reads.count > 0 && (await senpuki.stateOf(id)).state === 'running');
      const readsBefore = reads.count;
      gates.open('finish');
      const result = (await waiting) as Record<string, unknown>;
      assert.equal(reads.count, readsBefore, 'no read of the row after the completion');
      const stored = (await senpuki.stateOf(id)).result as Record<string, unknown>;
      assert.deepEqual(result, stored);
      assert.deepEqual(Object.keys(result), Object.keys(stored));
      assert.deepEqual(Object.keys(result.nested as object), Object.keys(stored.nested as object));
      assert.notEqual(result, returned);
    } finally {
      store.getExecutions = getExecutions;
      gates.openAll();
      await worker.stop();
    }
  });

  it('reads no row for a wait on a short execution that a worker of its process runs: its completion resolves the wait', async () => {
    const { senpuki } = engine;
    const quick = senpuki.durable('quick', async (_ctx, i: number) => i + 1);
    const failing = senpuki.durable('failingQuick', async () => {
      throw new Error('fails at once');
    });
    const claims = countClaims(senpuki.store);
    const worker = await senpuki.serve();
    // Idle (its last claim found nothing): it takes each dispatch at once, so it runs when the wait starts.
    const idle = () => until(() => claims.inFlight === 0 && claims.lastFound === 0 && worker.health().running === 0);
    const reads = { count: 0 };
    const { store } = senpuki;
    const getExecutions = store.getExecutions;
    store.getExecutions = (ids) => {
      reads.count += ids.length;
      return getExecutions.call(store, ids);
    };
    try {
      const waits = 20;
      for (let i = 0; i < waits; i++) {
        await idle();
        assert.equal(await senpuki.waitFor(await senpuki.dispatch(quick, [i]), { timeoutMs: 10_000 }), i + 1);
      }
      // Each wait used to read its row once; a run that takes longer than a moment still gets its row watched.
      assert.ok(reads.count < waits / 2, `${reads.count} row reads for ${waits} waits`);
      // Another outcome than the completion reaches the wait through the row, read once the run has ended.
      await idle();
      await assert.rejects(senpuki.waitFor(await senpuki.dispatch(failing, []), { timeoutMs: 10_000 }), /fails at once/);
    } finally {
      store.getExecutions = getExecutions;
      await worker.stop();
    }
  });

  it('writes a dispatch taken by an idle worker of its process with the root task leased to it, without a claim', async () => {
    const { senpuki } = engine;
    const gates = new Gates();
    const parked = senpuki.durable('parked', async (_ctx, key: string) => gates.wait(key));
    const claims = countClaims(senpuki.store);
    const worker = await senpuki.serve({ concurrency: 1 });
    try {
      // Idle: its last claim found nothing (earlier tests' pending executions have run).
      await until(() => claims.inFlight === 0 && claims.lastFound === 0 && worker.health().running === 0);
      const claimsBefore = claims.count;
      const first = await senpuki.dispatch(parked, ['first']);
      const taken = await senpuki.stateOf(first);
      assert.equal(taken.state, 'running', 'started by the dispatch itself');
      const root = await senpuki.getTask(taken.rootTaskId);
      assert.deepEqual([root.state, root.leaseOwner], ['running', worker.id]);
      assert.ok(root.leaseExpiresAt && root.startedAt);
      // Its one slot is held: the next dispatch is written pending and waits for a claim.
      const second = await senpuki.dispatch(parked, ['second']);
      assert.equal((await senpuki.stateOf(second)).state, 'pending');
      assert.equal(claims.count, claimsBefore, 'the first dispatch cost no claim');
      gates.open('first');
      gates.open('second');
      assert.equal(await senpuki.waitFor(first, { timeoutMs: 10_000 }), 'first');
      assert.equal(await senpuki.waitFor(second, { timeoutMs: 10_000 }), 'second');
      const runs = (await senpuki.getTask(root.id)).runs;
      assert.deepEqual(runs.map((run) => [run.outcome, run.worker]), [['completed', worker.id]]);
    } finally {
      claims.restore();
      gates.openAll();
      await worker.stop();
    }
  });

  it('fails a task whose result is not JSON, saying so', async () => {
    const { senpuki } = engine;
    const badResult = senpuki.durable('badResult', async () => new Map());
    const worker = await senpuki.serve();
    try {
      const id = await senpuki.dispatch(badResult, []);
      await assert.rejects(senpuki.waitFor(id, { timeoutMs: 10_000 }), /badResult result is a Map instance, not a plain object/);
    } finally {
      await worker.stop();
    }
  });
});
