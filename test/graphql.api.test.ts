import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NonRetryableError } from '../server/errors.js';
import type { Worker } from '../server/engine/worker.js';
import { openTestApp, type TestApp } from './helpers/graphqlApp.js';

const DISPATCH = `mutation($input: DispatchInput!) {
  dispatch(input: $input) { created token tokenExpiresAt execution { id state version function args queue tags priority rootTask { id } } }
}`;
const UNKNOWN_ID = '7d444840-9dc0-11d1-b245-5ffdce74fad2';

describe('GraphQL queries and mutations over HTTP', () => {
  let flakyFails = true;
  let letFlakyRecover!: () => void;
  const flakyMayRecover = new Promise<void>((resolve) => (letFlakyRecover = resolve));
  let t: TestApp;
  let worker: Worker;
  before(async () => {
    t = await openTestApp('pglite', { limits: { maxDepth: 8, maxAliases: 3, maxCost: 5000 } });
    const { senpuki } = t;
    const leaf = senpuki.durable('leaf', async (_ctx, n: number) => n * 10);
    senpuki.durable('tree', async (ctx, n: number) => (await ctx.map(leaf, [n, n + 1])).reduce((a, b) => a + b, 0), {
      description: 'Adds two leaves',
      retry: { maxAttempts: 3, retryOn: ['TypeError'] },
      queue: 'trees',
    });
    senpuki.durable('doomed', async () => {
      throw new NonRetryableError('no way', { reason: 'test' });
    });
    senpuki.durable('idle', async () => null);
    senpuki.durable('approval', async (ctx) => ctx.waitForSignal('approve'));
    senpuki.durable('flaky', async () => {
      if (flakyFails) throw new NonRetryableError('not yet');
      await flakyMayRecover;
      return 'recovered';
    });
    worker = await senpuki.serve({ concurrency: 4, queues: ['default', 'trees'] });
  });
  after(async () => {
    letFlakyRecover();
    await worker.stop();
    await t.close();
  });

  it('dispatches an execution and returns a read token scoped to it', async () => {
    const { status, body } = await t.gql(DISPATCH, { input: { function: 'tree', args: [1], tags: ['api'], priority: 5 } });
    assert.equal(status, 200);
    assert.equal(body.errors, undefined);
    const { execution, token, created, tokenExpiresAt } = body.data.dispatch;
    assert.equal(created, true);
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.ok(Date.parse(tokenExpiresAt) > Date.now());
    // Written pending, or already running when the idle worker of this process took it at once.
    assert.ok(['PENDING', 'RUNNING'].includes(execution.state), execution.state);
    assert.deepEqual(
      { version: execution.version, function: execution.function, args: execution.args, queue: execution.queue, tags: execution.tags, priority: execution.priority },
      { version: 1, function: 'tree', args: [1], queue: 'trees', tags: ['api'], priority: 5 },
    );
    assert.equal(await t.senpuki.waitFor(execution.id, { timeoutMs: 10_000 }), 30);
  });

  it('returns the first execution for a repeated idempotency key', async () => {
    const input = { function: 'idle', idempotencyKey: 'api-once' };
    const first = await t.gql(DISPATCH, { input });
    const second = await t.gql(DISPATCH, { input });
    assert.equal(second.body.data.dispatch.execution.id, first.body.data.dispatch.execution.id);
    assert.deepEqual([first.body.data.dispatch.created, second.body.data.dispatch.created], [true, false]);
  });

  it('dispatches many executions at once, each with its own token, honouring idempotency keys per item', async () => {
    const DISPATCH_MANY = `mutation($items: [DispatchInput!]!) {
      dispatchMany(items: $items) { items { created token execution { id state function args tags } } }
    }`;
    const { body } = await t.gql(DISPATCH_MANY, {
      items: [
        { function: 'tree', args: [1], tags: ['bulk'] },
        { function: 'idle', idempotencyKey: 'api-bulk-once' },
        { function: 'idle', idempotencyKey: 'api-bulk-once' },
      ],
    });
    assert.equal(body.errors, undefined);
    const items = body.data.dispatchMany.items;
    assert.deepEqual(items.map((item: any) => [item.created, item.execution.function, item.execution.state]), [
      [true, 'tree', 'PENDING'],
      [true, 'idle', 'PENDING'],
      [false, 'idle', 'PENDING'],
    ]);
    assert.equal(items[2].execution.id, items[1].execution.id);
    assert.notEqual(items[0].token, items[1].token, 'a token per execution');
    assert.equal(await t.senpuki.waitFor(items[0].execution.id, { timeoutMs: 10_000 }), 30);
    const bad = await t.gql(DISPATCH_MANY, { items: [{ function: 'idle' }, { function: 'tree', args: { n: 1 } }, { function: 'missing' }] });
    const [error] = bad.body.errors as any[];
    assert.equal(error.extensions.code, 'BAD_USER_INPUT');
    assert.match(error.message, /^2 of 3 items are invalid, so none was dispatched\. items\[1\]: args must be a JSON array/);
    assert.deepEqual(error.extensions.items.map((item: any) => item.index), [1, 2]);
    assert.match(error.extensions.items[1].message, /No durable function named "missing"/);
  });

  it('shows an execution with its tasks as a tree and as a flat list', async () => {
    const id = await t.senpuki.dispatch('tree', [2]);
    await t.senpuki.waitFor(id, { timeoutMs: 10_000 });
    const { body } = await t.gql(
      `query($id: ID!) { execution(id: $id) {
        state result terminal
        rootTask { function state children { function args result parentId parent { id } children { id } } }
        tasks { id parentId function kind state attempt }
      } }`,
      { id },
    );
    assert.equal(body.errors, undefined);
    const execution = body.data.execution;
    assert.deepEqual([execution.state, execution.result, execution.terminal], ['COMPLETED', 50, true]);
    assert.equal(execution.rootTask.function, 'tree');
    assert.deepEqual(execution.rootTask.children.map((c: any) => [c.function, c.args, c.result, c.children.length]), [
      ['leaf', [2], 20, 0],
      ['leaf', [3], 30, 0],
    ]);
    const root = execution.tasks[0];
    assert.equal(root.parentId, null);
    assert.deepEqual(execution.tasks.slice(1).map((task: any) => [task.parentId, task.kind, task.state]), [
      [root.id, 'FUNCTION', 'COMPLETED'],
      [root.id, 'FUNCTION', 'COMPLETED'],
    ]);
    assert.deepEqual(execution.rootTask.children.map((c: any) => c.parent.id), [root.id, root.id]);

    const task = await t.gql(`query($id: ID!) { task(id: $id) { function execution { id } parent { function } children { id } } }`, { id: execution.tasks[1].id });
    assert.deepEqual(task.body.data.task, { function: 'leaf', execution: { id }, parent: { function: 'tree' }, children: [] });
  });

  it('pages executions newest first with opaque cursors, filters and a total count', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await t.senpuki.dispatch('idle', [], { tags: ['paged'] }));
    const query = `query($filter: ExecutionFilter, $after: String) {
      executions(filter: $filter, first: 2, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } }
    }`;
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const { body }: { body: any } = await t.gql(query, { filter: { tag: 'paged', function: 'idle' }, after });
      assert.equal(body.errors, undefined);
      const page = body.data.executions;
      assert.equal(page.totalCount, 5);
      seen.push(...page.edges.map((edge: any) => edge.node.id));
      pages++;
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...ids].reverse());

    const byState = await t.gql(`{ executions(filter: { state: [FAILED], tag: "paged" }) { totalCount } }`);
    assert.equal(byState.body.data.executions.totalCount, 0);
    const badCursor = await t.gql(`{ executions(after: "bm90LWEtY3Vyc29y") { totalCount } }`);
    assert.equal(badCursor.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    assert.match(badCursor.body.errors![0]!.message, /after must be a cursor from an earlier executions page/);
  });

  it('lists the registered functions with their retry policy', async () => {
    const { body } = await t.gql(`{ functions { name description queue retry { maxAttempts retryOn backoffFactor } } }`);
    const tree = body.data.functions.find((fn: any) => fn.name === 'tree');
    assert.deepEqual(tree, { name: 'tree', description: 'Adds two leaves', queue: 'trees', retry: { maxAttempts: 3, retryOn: ['TypeError'], backoffFactor: 2 } });
    assert.deepEqual(body.data.functions.map((fn: any) => fn.name), ['approval', 'doomed', 'flaky', 'idle', 'leaf', 'tree']);
  });

  it('lists dead letters of tasks that failed for good', async () => {
    const id = await t.senpuki.dispatch('doomed', []);
    await assert.rejects(t.senpuki.waitFor(id, { timeoutMs: 10_000 }));
    const { body } = await t.gql(`{ deadLetters(first: 10) { nodes { executionId function attempts error { name message data } execution { state } } pageInfo { hasNextPage } } }`);
    assert.equal(body.errors, undefined);
    const letter = body.data.deadLetters.nodes.find((node: any) => node.executionId === id);
    assert.deepEqual(letter, {
      executionId: id,
      function: 'doomed',
      attempts: 1,
      error: { name: 'NonRetryableError', message: 'no way', data: { reason: 'test' } },
      execution: { state: 'FAILED' },
    });
    const failed = await t.gql(`query($id: ID!) { execution(id: $id) { error { name message } } }`, { id });
    assert.deepEqual(failed.body.data.execution.error, { name: 'NonRetryableError', message: 'no way' });
  });

  it('sends a signal to a waiting execution, and answers CONFLICT once it has finished', async () => {
    const id = await t.senpuki.dispatch('approval', []);
    const SEND = `mutation($input: SendSignalInput!) { sendSignal(input: $input) { signalId delivered execution { id } } }`;
    const { body } = await t.gql(SEND, { input: { executionId: id, name: 'approve', payload: { by: 'ana' } } });
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.equal(body.data.sendSignal.execution.id, id);
    assert.deepEqual(await t.senpuki.waitFor(id, { timeoutMs: 10_000 }), { by: 'ana' });
    const late = await t.gql(SEND, { input: { executionId: id, name: 'approve' } });
    assert.equal(late.body.errors?.[0]?.extensions?.code, 'CONFLICT');
  });

  it('replays a dead letter: the failed execution runs again and completes', async () => {
    const id = await t.senpuki.dispatch('flaky', []);
    await assert.rejects(t.senpuki.waitFor(id, { timeoutMs: 10_000 }));
    const letters = await t.gql(`query($id: ID!) { deadLetters(filter: { executionId: $id }) { totalCount nodes { id function } } }`, { id });
    assert.equal(letters.body.data.deadLetters.totalCount, 1);
    flakyFails = false;
    const { body } = await t.gql(`mutation($id: ID!) { replayDeadLetter(id: $id) { execution { id state } } }`, { id: letters.body.data.deadLetters.nodes[0].id });
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.deepEqual(body.data.replayDeadLetter.execution, { id, state: 'RUNNING' });
    letFlakyRecover();
    assert.equal(await t.senpuki.waitFor(id, { timeoutMs: 10_000 }), 'recovered');
  });

  it('discards a dead letter without running it again; a second discard is NOT_FOUND', async () => {
    const id = await t.senpuki.dispatch('doomed', []);
    await assert.rejects(t.senpuki.waitFor(id, { timeoutMs: 10_000 }));
    const LETTERS = `query($id: ID!) { deadLetters(filter: { executionId: $id }) { totalCount nodes { id } } }`;
    const letterId = (await t.gql(LETTERS, { id })).body.data.deadLetters.nodes[0].id;
    const DISCARD = `mutation($id: ID!) { discardDeadLetter(id: $id) { id } }`;
    const { body } = await t.gql(DISCARD, { id: letterId });
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.deepEqual(body.data.discardDeadLetter, { id: letterId });
    assert.equal((await t.gql(LETTERS, { id })).body.data.deadLetters.totalCount, 0);
    assert.equal((await t.senpuki.stateOf(id)).state, 'failed');
    const again = await t.gql(DISCARD, { id: letterId });
    assert.equal(again.body.errors?.[0]?.extensions?.code, 'NOT_FOUND');
    assert.match(again.body.errors![0]!.message, /No dead letter with id/);
  });

  it('tells the latest change sequence position, where a list subscription can start', async () => {
    const id = await t.senpuki.dispatch('idle', [], { delay: '1h' });
    const { body } = await t.gql(`{ changeCursor }`);
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.ok(BigInt(body.data.changeCursor) >= BigInt((await t.senpuki.stateOf(id)).changeSeq));
  });

  it('cancels an execution', async () => {
    const id = await t.senpuki.dispatch('idle', [], { delay: '1h' });
    const { body } = await t.gql(`mutation($id: ID!) { cancelExecution(id: $id) { execution { state terminal } } }`, { id });
    assert.deepEqual(body.data.cancelExecution.execution, { state: 'CANCELLED', terminal: true });
  });

  it('answers bad input with BAD_USER_INPUT or NOT_FOUND and a message that says what to fix', async () => {
    const cases: Array<[string, Record<string, unknown> | undefined, string, RegExp]> = [
      [`{ execution(id: "nope") { id } }`, undefined, 'BAD_USER_INPUT', /execution id must be a UUID like/],
      [`{ execution(id: "${UNKNOWN_ID}") { id } }`, undefined, 'NOT_FOUND', /No execution with id/],
      [`{ task(id: "${UNKNOWN_ID}") { id } }`, undefined, 'NOT_FOUND', /No task with id/],
      [DISPATCH, { input: { function: 'nope' } }, 'NOT_FOUND', /No durable function named "nope".*registered: approval, doomed, flaky, idle, leaf, tree/],
      [DISPATCH, { input: { function: 'leaf', args: { n: 1 } } }, 'BAD_USER_INPUT', /args must be a JSON array of the arguments of leaf/],
      [DISPATCH, { input: { function: 'leaf', args: ['x'.repeat(1024 * 1024 + 10)] } }, 'BAD_USER_INPUT', /args are \d+ bytes of JSON; the limit is 1048576/],
      [DISPATCH, { input: { function: 'leaf', args: [1], delay: 'soon' } }, 'BAD_USER_INPUT', /Duration must be a number of milliseconds or a string like "500ms"/],
      [DISPATCH, { input: { function: 'leaf', args: [1], priority: 10_000_000 } }, 'BAD_USER_INPUT', /priority must be an integer between/],
      [`query($n: Int) { executions(first: $n) { totalCount } }`, { n: 5000 }, 'BAD_USER_INPUT', /executions\(first:\) must be an integer from 1 to 200/],
      [`{ executions(filter: { createdAfter: "yesterday" }) { totalCount } }`, undefined, 'BAD_USER_INPUT', /DateTime must be an ISO 8601 string/],
    ];
    for (const [query, variables, code, message] of cases) {
      const { body } = await t.gql(query, variables);
      const error = body.errors?.[0];
      assert.ok(error, `expected an error for ${query} ${JSON.stringify(variables)?.slice(0, 80)}`);
      assert.equal(error.extensions?.code, code, error.message);
      assert.match(error.message, message);
    }
  });

  it('masks unexpected errors: no SQL text, no stack', async () => {
    const store = t.senpuki.store;
    const original = store.pageExecutions;
    store.pageExecutions = async () => {
      throw new Error('relation "senpuki_executions" does not exist: SELECT secret FROM senpuki_executions');
    };
    try {
      const { body } = await t.gql(`{ executions { totalCount } }`);
      assert.deepEqual(body.errors?.map((e) => [e.message, e.extensions]), [['Unexpected error.', { code: 'INTERNAL_SERVER_ERROR' }]]);
      assert.doesNotMatch(JSON.stringify(body), /SELECT|senpuki_executions|at /);
    } finally {
      store.pageExecutions = original;
    }
  });

  it('rejects operations that are too deep, alias too much, or are too large', async () => {
    const deep = await t.gql(`{ executions { edges { node { rootTask { children { children { children { children { id } } } } } } } } }`);
    assert.equal(deep.status, 400);
    assert.deepEqual(deep.body.errors!.map((e) => [e.message, e.extensions?.code]), [
      ['Query depth limit of 8 exceeded, found 9. Simplify the operation or raise limits.maxDepth.', 'LIMIT_EXCEEDED'],
    ]);
    const aliased = await t.gql(`{ a: functions { name } b: functions { name } c: functions { name } d: functions { name } }`);
    assert.match(aliased.body.errors![0]!.message, /Aliases limit of 3 exceeded, found 4\. .*limits\.maxAliases/);
    const costly = await t.gql(`{ executions(first: 200) { edges { node { tasks { children { id state function args result } } } } } }`);
    assert.match(costly.body.errors![0]!.message, /Query Cost limit of 5000 exceeded, found [\d.]+\. .*limits\.maxCost/);
    const introspection = await t.gql(`{ __schema { types { name fields { name type { name ofType { name ofType { name ofType { name } } } } } } } }`);
    assert.equal(introspection.body.errors, undefined);

    const big = JSON.stringify({ query: `{ functions { name } }`, variables: { pad: 'x'.repeat(3 * 1024 * 1024) } });
    const response = await t.app.yoga.fetch('http://localhost/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    assert.equal(response.status, 413);
    const payload = (await response.json()) as any;
    assert.equal(payload.errors[0].extensions.code, 'PAYLOAD_TOO_LARGE');
    assert.match(payload.errors[0].message, /larger than 2097152 bytes/);

    // Without Content-Length (chunked): the limit holds while reading.
    const chunked = await t.app.yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit);
    assert.equal(chunked.status, 413);
  });

  it('serves /healthz and /metrics', async () => {
    const health = await t.app.yoga.fetch('http://localhost/healthz');
    assert.equal(health.status, 200);
    const body = (await health.json()) as { status: string; store: { ok: boolean }; notifications: unknown; workers: unknown[] };
    assert.equal(body.status, 'ok');
    assert.equal(body.store.ok, true);
    assert.deepEqual(body.notifications, { backend: 'memory', connected: true });
    await t.gql(`{ functions { name } }`);
    const metrics = await (await t.app.yoga.fetch('http://localhost/metrics')).text();
    assert.match(metrics, /senpuki_graphql_operations_total\{type="query",outcome="ok"\} \d+/);
    assert.match(metrics, /# TYPE senpuki_graphql_subscriptions_active gauge/);
    assert.match(metrics, /senpuki_notifications_connected 1/);
  });
});
