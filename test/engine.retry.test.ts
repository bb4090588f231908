import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExecutionError, NonRetryableError } from '../server/errors.js';
import { DEFAULT_RETRY_POLICY, isRetryable, taskRetryDelayMs } from '../server/engine/retry.js';
import { describeOnEachStore } from './helpers/engine.js';

describe('retry policy arithmetic', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, maxAttempts: 6, initialDelayMs: 100, backoffFactor: 3, maxDelayMs: 2000, jitter: 0 };

  it('grows the delay by the backoff factor and caps it at maxDelayMs', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((attempt) => taskRetryDelayMs(policy, attempt)), [100, 300, 900, 2000, 2000]);
  });

  it('keeps jittered delays within ±jitter of the base delay', () => {
    const jittery = { ...policy, jitter: 0.5 };
    assert.equal(taskRetryDelayMs(jittery, 2, () => 0), 150);
    assert.equal(taskRetryDelayMs(jittery, 2, () => 1), 450);
  });

  it('retries only named errors when retryOn is set, never NonRetryableError, never past maxAttempts', () => {
    const named = { ...policy, retryOn: ['TimeoutError'] };
    const timeout = Object.assign(new Error('slow'), { name: 'TimeoutError' });
    assert.equal(isRetryable(named, timeout, 1), true);
    assert.equal(isRetryable(named, new TypeError('bug'), 1), false);
    assert.equal(isRetryable(policy, new NonRetryableError('declined'), 1), false);
    assert.equal(isRetryable(policy, timeout, 6), false);
  });
});

await describeOnEachStore('retries', (engine) => {
  it('runs a failing task exactly maxAttempts times, then fails the execution and lists a dead letter', async () => {
    const { senpuki } = engine;
    const attempts: number[] = [];
    const flaky = senpuki.durable(
      'alwaysFails',
      async (ctx) => {
        attempts.push(ctx.attempt);
        throw new Error(`boom ${ctx.attempt}`);
      },
      { retry: { maxAttempts: 3, initialDelayMs: 5, jitter: 0 } },
    );
    const worker = await senpuki.serve();
    try {
      const id = await senpuki.dispatch(flaky, []);
      await assert.rejects(senpuki.waitFor(id, { timeoutMs: 10_000 }), (error: unknown) => {
        assert.ok(error instanceof ExecutionError);
        assert.equal(error.state, 'failed');
        assert.equal(error.code, 'EXECUTION_FAILED');
        assert.match(error.message, /boom 3/);
        return true;
      });
      assert.deepEqual(attempts, [1, 2, 3]);
      const letters = (await senpuki.store.listDeadLetters()).filter((letter) => letter.executionId === id);
      assert.equal(letters.length, 1);
      assert.equal(letters[0]!.attempts, 3);
      assert.equal(letters[0]!.error.message, 'boom 3');
    } finally {
      await worker.stop();
    }
  });

  it('succeeds on a later attempt and waits the configured delay between attempts', async () => {
    const { senpuki } = engine;
    const startedAt: number[] = [];
    const secondTime = senpuki.durable(
      'secondTime',
      async (ctx) => {
        startedAt.push(Date.now());
        if (ctx.attempt < 2) throw new Error('not yet');
        return ctx.attempt;
      },
      { retry: { maxAttempts: 5, initialDelayMs: 300, jitter: 0 } },
    );
    const worker = await senpuki.serve();
    try {
      assert.equal(await senpuki.waitFor(await senpuki.dispatch(secondTime, []), { timeoutMs: 10_000 }), 2);
      assert.equal(startedAt.length, 2);
      assert.ok(startedAt[1]! - startedAt[0]! >= 250, `retry came after ${startedAt[1]! - startedAt[0]!} ms`);
    } finally {
      await worker.stop();
    }
  });

  it('fails at once on NonRetryableError and on errors not listed in retryOn', async () => {
    const { senpuki } = engine;
    let runs = 0;
    const declined = senpuki.durable(
      'declined',
      async () => {
        runs++;
        throw new NonRetryableError('card declined', { reason: 'insufficient_funds' });
      },
      { retry: { maxAttempts: 5, initialDelayMs: 1 } },
    );
    let typeErrors = 0;
    const picky = senpuki.durable(
      'picky',
      async () => {
        typeErrors++;
        throw new TypeError('a bug');
      },
      { retry: { maxAttempts: 5, initialDelayMs: 1, retryOn: ['TimeoutError'] } },
    );
    const worker = await senpuki.serve();
    try {
      await assert.rejects(senpuki.waitFor(await senpuki.dispatch(declined, []), { timeoutMs: 10_000 }), (error: unknown) => {
        assert.ok(error instanceof ExecutionError);
        assert.deepEqual(error.cause_?.data, { reason: 'insufficient_funds' });
        assert.equal(error.cause_?.name, 'NonRetryableError');
        return true;
      });
      await assert.rejects(senpuki.waitFor(await senpuki.dispatch(picky, []), { timeoutMs: 10_000 }), /TypeError: a bug/);
      assert.equal(runs, 1);
      assert.equal(typeErrors, 1);
    } finally {
      await worker.stop();
    }
  });

  it('re-runs a failed child when its parent is retried, but never a completed one', async () => {
    const { senpuki } = engine;
    const runs = { stable: 0, shaky: 0 };
    const stable = senpuki.durable('stable', async () => ++runs.stable);
    const shaky = senpuki.durable('shaky', async () => {
      runs.shaky++;
      if (runs.shaky === 1) throw new Error('first run fails');
      return 'fine';
    });
    const parent = senpuki.durable(
      'retriedParent',
      async (ctx) => {
        const first = await ctx.call(stable);
        const second = await ctx.call(shaky);
        return { first, second, attempt: ctx.attempt };
      },
      { retry: { maxAttempts: 2, initialDelayMs: 1 } },
    );
    const worker = await senpuki.serve();
    try {
      const id = await senpuki.dispatch(parent, []);
      assert.deepEqual(await senpuki.waitFor(id, { timeoutMs: 10_000 }), { first: 1, second: 'fine', attempt: 2 });
      assert.equal(runs.stable, 1);
      assert.equal(runs.shaky, 2);
      const children = (await senpuki.listTasks(id)).filter((task) => task.parentTaskId);
      assert.equal(children.length, 2, 'the retried parent reuses its children rows');
      assert.deepEqual(children.map((task) => task.state), ['completed', 'completed']);
    } finally {
      await worker.stop();
    }
  });

  it("gives the parent the child's error under the child's error name", async () => {
    const { senpuki } = engine;
    const child = senpuki.durable('namedFailure', async () => {
      throw Object.assign(new Error('gateway slow'), { name: 'GatewayTimeout' });
    });
    const parent = senpuki.durable('catchesChild', async (ctx) => {
      try {
        await ctx.call(child);
        return 'no error';
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    });
    const worker = await senpuki.serve();
    try {
      assert.equal(await senpuki.waitFor(await senpuki.dispatch(parent, []), { timeoutMs: 10_000 }), 'GatewayTimeout: namedFailure failed: gateway slow');
    } finally {
      await worker.stop();
    }
  });
});
