import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildTaskTree, ExecutionError, SenpukiClientError, type Execution, type TaskListSnapshot } from '../client/index.js';
import { waitFor } from './helpers/conditions.js';
import { startSdkServer, type SdkServer } from './helpers/sdkServer.js';

/** A fetch that records the operation name of every request, and fails the next `failures` of them as a dead connection does. */
function recordingFetch() {
  const sent: string[] = [];
  let failures = 0;
  const recording: typeof fetch = async (input, init) => {
    sent.push((JSON.parse(String(init?.body)) as { operationName: string }).operationName);
    if (failures > 0) {
      failures--;
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
    }
    return fetch(input, init);
  };
  return { fetch: recording, sent, failNext: (count: number) => (failures = count) };
}

/** Pulls snapshots until one satisfies `done`. */
async function nextWhere(updates: AsyncIterator<TaskListSnapshot>, done: (snapshot: TaskListSnapshot) => boolean): Promise<TaskListSnapshot> {
  for (;;) {
    const next = await updates.next();
    assert.ok(!next.done, 'the updates ended first');
    if (done(next.value)) return next.value;
  }
}

describe('SDK against a real server', () => {
  let sdk: SdkServer;
  before(async () => {
    sdk = await startSdkServer();
  });
  after(async () => {
    await sdk.close();
  });

  for (const transport of ['ws', 'sse'] as const) {
    it(`dispatch, then for await over executionUpdates ends with the terminal state (${transport})`, async () => {
      const client = sdk.client({ transport });
      const { executionId, execution } = await client.dispatch('gated', [`iterate-${transport}`]);
      assert.equal(execution.function, 'gated');
      const seen: Execution[] = [];
      for await (const update of client.executionUpdates(executionId)) {
        seen.push(update);
        if (update.state === 'RUNNING') sdk.gates.open(`iterate-${transport}`);
      }
      assert.equal(seen.at(-1)!.state, 'COMPLETED');
      assert.equal(seen.at(-1)!.result, `iterate-${transport}`);
      assert.ok(seen.slice(0, -1).every((row) => !row.terminal));
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.version > seen[i - 1]!.version, `versions ${seen.map((row) => row.version)}`);
    });
  }

  it('waitFor resolves with the result of a completed execution', async () => {
    const client = sdk.client();
    const { executionId } = await client.dispatch('echo', [{ answer: 42 }]);
    assert.deepEqual(await client.waitFor<{ answer: number }>(executionId), { answer: 42 });
  });

  it('waitFor rejects with an ExecutionError for failed, timed out and cancelled executions', async () => {
    const client = sdk.client();
    const failed = await client.dispatch('fails', ['card declined']);
    await assert.rejects(client.waitFor(failed.executionId), (error: unknown) => {
      assert.ok(error instanceof ExecutionError);
      assert.equal(error.state, 'FAILED');
      assert.equal(error.code, 'EXECUTION_FAILED');
      assert.equal(error.error?.message, 'card declined');
      return true;
    });

    const timedOut = await client.dispatch('hangs', [], { maxDuration: '300ms' });
    await assert.rejects(client.waitFor(timedOut.executionId), (error: unknown) => {
      assert.ok(error instanceof ExecutionError);
      assert.equal(error.state, 'TIMED_OUT');
      assert.equal(error.code, 'EXECUTION_TIMED_OUT');
      return true;
    });

    const cancelled = await client.dispatch('hangs', []);
    const waiting = client.waitFor(cancelled.executionId);
    await waitFor(async () => (await client.execution(cancelled.executionId)).state === 'RUNNING', { message: 'the execution to run' });
    await client.cancel(cancelled.executionId);
    await assert.rejects(waiting, (error: unknown) => {
      assert.ok(error instanceof ExecutionError);
      assert.equal(error.state, 'CANCELLED');
      assert.equal(error.code, 'EXECUTION_CANCELLED');
      return true;
    });
  });

  it('waitFor rejects with a timeout SenpukiClientError when timeoutMs passes first', async () => {
    const client = sdk.client();
    const { executionId } = await client.dispatch('gated', ['wait-timeout']);
    await assert.rejects(client.waitFor(executionId, { timeoutMs: 200 }), (error: unknown) => {
      assert.ok(error instanceof SenpukiClientError);
      assert.equal(error.kind, 'timeout');
      return true;
    });
    sdk.gates.open('wait-timeout');
    assert.equal(await client.waitFor(executionId), 'wait-timeout');
  });

  it('sendSignal delivers a payload to the waiting execution', async () => {
    const client = sdk.client();
    const { executionId } = await client.dispatch('awaitsSignal', ['go']);
    const delivery = await client.sendSignal(executionId, 'go', { answer: 7 });
    assert.equal(typeof delivery.signalId, 'string');
    assert.deepEqual(await client.waitFor(executionId), { answer: 7 });
    await assert.rejects(client.sendSignal(executionId, 'go'), (error: unknown) => error instanceof SenpukiClientError && error.code === 'CONFLICT');
  });

  it('lists a dead letter and replays it to completion', async () => {
    const client = sdk.client();
    const { executionId } = await client.dispatch('failsOnce', ['dlq']);
    await assert.rejects(client.waitFor(executionId), ExecutionError);
    const { deadLetters } = await client.deadLetters({ executionId });
    assert.equal(deadLetters.length, 1);
    assert.equal(deadLetters[0]!.error.message, 'first run of dlq');
    const replayed = await client.replayDeadLetter(deadLetters[0]!.id);
    assert.equal(replayed.id, executionId);
    assert.equal(await client.waitFor(executionId), 'recovered dlq');
  });

  it('discards a dead letter, and answers NOT_FOUND when it is gone', async () => {
    const client = sdk.client();
    const { executionId } = await client.dispatch('fails', ['discard me']);
    await assert.rejects(client.waitFor(executionId), ExecutionError);
    const [letter] = (await client.deadLetters({ executionId })).deadLetters;
    await client.discardDeadLetter(letter!.id);
    assert.deepEqual((await client.deadLetters({ executionId })).deadLetters, []);
    assert.equal((await client.execution(executionId)).state, 'FAILED', 'the execution stays as it was');
    await assert.rejects(client.discardDeadLetter(letter!.id), (error: unknown) => error instanceof SenpukiClientError && error.code === 'NOT_FOUND');
  });

  it('sends a query again once after a network error (a dead keep-alive connection), never a mutation', async () => {
    const recording = recordingFetch();
    const client = sdk.client({ fetch: recording.fetch });
    recording.failNext(1);
    assert.ok((await client.functions()).length > 0);
    assert.deepEqual(recording.sent.splice(0), ['Functions', 'Functions']);

    recording.failNext(2);
    await assert.rejects(client.functions(), (error: unknown) => error instanceof SenpukiClientError && error.kind === 'network');
    assert.deepEqual(recording.sent.splice(0), ['Functions', 'Functions'], 'once only');

    recording.failNext(1);
    await assert.rejects(client.dispatch('echo', ['once']), (error: unknown) => error instanceof SenpukiClientError && error.kind === 'network');
    assert.deepEqual(recording.sent.splice(0), ['Dispatch'], 'a mutation may have taken effect: it is not sent again');
  });

  it('taskListUpdates gets task changes pushed, without re-reading the task list', async () => {
    const recording = recordingFetch();
    const client = sdk.client({ fetch: recording.fetch });
    const { executionId } = await client.dispatch('fanOut', [['tasks-a', 'tasks-b']]);
    const updates = client.taskListUpdates(executionId);
    const running = await nextWhere(updates, (s) => s.tasks.filter((task) => task.parentId && task.state === 'RUNNING').length === 2);
    sdk.gates.open('tasks-a');
    const oneDone = await nextWhere(updates, (s) => s.tasks.some((task) => task.parentId && task.state === 'COMPLETED'));
    assert.equal(oneDone.execution.version, running.execution.version, 'the execution did not change: the task change came by itself');
    assert.deepEqual([oneDone.counts.finished, oneDone.counts.total], [1, 3]);
    sdk.gates.open('tasks-b');
    let last = oneDone;
    for await (const snapshot of updates) last = snapshot;
    assert.equal(last.execution.state, 'COMPLETED');
    assert.deepEqual([last.counts.finished, last.counts.total], [3, 3]);
    assert.deepEqual(buildTaskTree(last.tasks)[0]!.children.map((node) => node.task.args), [['tasks-a'], ['tasks-b']]);
    assert.deepEqual(recording.sent.filter((name) => name === 'ExecutionTasks'), ['ExecutionTasks'], 'one read, for the first snapshot');
  });

  it('taskListUpdates never shows a finished execution with unfinished tasks (its row can arrive before theirs)', async () => {
    const client = sdk.client();
    for (let round = 0; round < 8; round++) {
      const { executionId } = await client.dispatch('steps', [3, 0]);
      const inconsistent: string[] = [];
      let last;
      for await (const snapshot of client.taskListUpdates(executionId)) {
        last = snapshot;
        if (snapshot.execution.terminal && snapshot.counts.finished < snapshot.counts.total) {
          inconsistent.push(`${snapshot.execution.state} with ${snapshot.counts.finished}/${snapshot.counts.total}`);
        }
      }
      assert.deepEqual(inconsistent, []);
      assert.deepEqual([last!.execution.state, last!.counts.finished, last!.counts.total], ['COMPLETED', 4, 4]);
    }
  });

  it('rejects with a GraphQL SenpukiClientError carrying extensions.code, and tells network errors apart', async () => {
    const client = sdk.client();
    await assert.rejects(client.execution('7d444840-9dc0-11d1-b245-5ffdce74fad2'), (error: unknown) => {
      assert.ok(error instanceof SenpukiClientError);
      assert.equal(error.kind, 'graphql');
      assert.equal(error.code, 'NOT_FOUND');
      assert.equal(error.isNetworkError, false);
      return true;
    });
    const unreachable = sdk.client({ url: 'http://127.0.0.1:9/graphql' });
    await assert.rejects(unreachable.functions(), (error: unknown) => {
      assert.ok(error instanceof SenpukiClientError);
      assert.equal(error.kind, 'network');
      assert.equal(error.code, 'NETWORK_ERROR');
      assert.ok(error.networkError instanceof Error);
      return true;
    });
  });

  it('lists functions, executions and the task tree of an execution', async () => {
    const client = sdk.client();
    const names = (await client.functions()).map((fn) => fn.name);
    assert.ok(names.includes('steps') && names.includes('echo'));
    const tag = `tree-${Date.now()}`;
    const { executionId } = await client.dispatch('steps', [3, 1], { tags: [tag] });
    const snapshots = [];
    for await (const snapshot of client.taskListUpdates(executionId)) snapshots.push(snapshot);
    const last = snapshots.at(-1)!;
    assert.equal(last.execution.state, 'COMPLETED');
    assert.deepEqual([last.counts.finished, last.counts.total], [4, 4]);
    const [root] = buildTaskTree(last.tasks);
    assert.equal(root!.task.function, 'steps');
    assert.deepEqual(root!.children.map((node) => node.task.args), [[0, 1], [1, 1], [2, 1]]);
    const page = await client.executions({ tag });
    assert.deepEqual(page.executions.map((execution) => execution.id), [executionId]);
    assert.equal(page.totalCount, 1);
  });

  it('keeps a live list of executions: the first page, then each change in place', async () => {
    const client = sdk.client();
    const tag = `live-list-${Date.now()}`;
    const first = (await client.dispatch('echo', [1], { tags: [tag] })).executionId;
    await client.waitFor(first);
    const list = client.executionListUpdates({ tag }, { first: 5 });
    const initial = (await list.next()).value!;
    assert.deepEqual(initial.executions.map((row) => [row.id, row.state]), [[first, 'COMPLETED']]);
    const second = (await client.dispatch('gated', ['live-list'], { tags: [tag] })).executionId;
    sdk.gates.open('live-list');
    for await (const snapshot of list) {
      assert.equal(snapshot.executions[0]!.id, second, 'the newest first');
      if (snapshot.executions[0]!.state === 'COMPLETED') break;
    }
  });
});
