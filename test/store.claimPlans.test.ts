import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Db, Queryable } from '../server/store/db.js';
import { claimTasks, msUntilNextDue } from '../server/store/claimQueries.js';
import { completeTasks } from '../server/store/completionQueries.js';
import { isPrepared } from '../server/store/prepared.js';
import { openPgliteTestStore, openPostgresTestStore, postgresReachable, type TestStore } from './helpers/stores.js';

const PENDING_ROWS = 50_000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Parent Relationship'?: string;
  Plans?: PlanNode[];
}

interface ExplainedStatement {
  text: string;
  plan: PlanNode;
}

/**
 * A Db that runs `EXPLAIN (FORMAT JSON)` of every statement before running the statement itself.
 * A prepared statement is planned twice: for these values (a custom plan), and for any values
 * (the generic plan Postgres may switch to after a few runs), so neither can walk the backlog.
 */
function explaining(db: Db, statements: ExplainedStatement[]): Db {
  let prepared = 0;
  const wrap = (target: Queryable): Queryable => ({
    async query(text, values) {
      const sql = String(text);
      const { rows } = await target.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (FORMAT JSON) ${sql}`, values);
      statements.push({ text: sql, plan: rows[0]!['QUERY PLAN'][0]!.Plan });
      if (isPrepared(text) && values?.length) {
        const name = `explained_${prepared++}`;
        const generic = await db.transaction(async (tx) => {
          await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
          await tx.query(`PREPARE ${name} AS ${sql}`);
          const literals = values.map((value) =>
            value === null
              ? 'NULL'
              : typeof value === 'string'
                ? `'${value.replace(/'/g, "''")}'`
                : `'${JSON.stringify(value).replace(/^\[/, '{').replace(/\]$/, '}').replace(/^"|"$/g, '').replace(/'/g, "''")}'`,
          );
          const plan = await tx.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (FORMAT JSON) EXECUTE ${name}(${literals.join(', ')})`);
          await tx.query(`DEALLOCATE ${name}`);
          return plan.rows[0]!['QUERY PLAN'][0]!.Plan;
        });
        statements.push({ text: `(generic plan) ${sql}`, plan: generic });
      }
      return target.query(text, values);
    },
  });
  return { ...db, ...wrap(db), transaction: (fn) => db.transaction((tx) => fn(wrap(tx))) };
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** The rows a node consumes: its inputs and theirs, not the CTEs and subplans it merely refers to. */
function inputs(plan: PlanNode): PlanNode[] {
  const children = (plan.Plans ?? []).filter((child) => child['Parent Relationship'] !== 'InitPlan' && child['Parent Relationship'] !== 'SubPlan');
  return [plan, ...children.flatMap(inputs)];
}

const TABLES = new Set(['senpuki_tasks', 'senpuki_executions']);
const readsTable = (node: PlanNode, table: string) => inputs(node).some((n) => n['Relation Name'] === table);

/** What makes a statement's cost grow with the backlog: reading every row, or ordering or hashing all of them. */
function backlogScans(plan: PlanNode): string[] {
  const found: string[] = [];
  for (const node of nodes(plan)) {
    const relation = node['Relation Name'];
    if (node['Node Type'] === 'Seq Scan' && relation && TABLES.has(relation)) found.push(`Seq Scan on ${relation}`);
    if (node['Node Type'] === 'Sort' && readsTable(node, 'senpuki_tasks')) found.push('Sort over senpuki_tasks');
    if (node['Node Type'] === 'Hash') {
      for (const table of TABLES) if (readsTable(node, table)) found.push(`Hash over ${table}`);
    }
  }
  return found;
}

function assertBacklogIndependent(statements: ExplainedStatement[]): void {
  assert.ok(statements.length > 0, 'statements were explained');
  for (const { text, plan } of statements) {
    assert.deepEqual(backlogScans(plan), [], `plan of\n${text}\n${JSON.stringify(plan, null, 1)}`);
  }
}

describe(`claim plans with ${PENDING_ROWS} pending tasks (postgres)`, { skip: !(await postgresReachable()) && 'Postgres is not reachable' }, () => {
  let testStore: TestStore;
  before(async () => {
    testStore = await openPostgresTestStore();
    const { db } = testStore.store;
    // Pending executions and their root tasks over two queues, three priorities, tags, a limited
    // function and delayed rows; a few thousand finished executions beside them.
    await db.query(
      `WITH ids AS (SELECT n, gen_random_uuid() AS eid, gen_random_uuid() AS tid FROM generate_series(1, $1) AS n),
       e AS (INSERT INTO senpuki_executions (id, function_name, args, state, queue, tags, priority, root_task_id)
             SELECT eid, CASE WHEN n % 10 = 0 THEN 'limited' ELSE 'work' END, '[]', 'pending',
                    CASE WHEN n % 3 = 0 THEN 'other' ELSE 'default' END,
                    CASE WHEN n % 2 = 0 THEN ARRAY['eu'] ELSE ARRAY['us'] END, n % 3, tid FROM ids
             RETURNING id, root_task_id, function_name, queue, tags, priority)
       INSERT INTO senpuki_tasks (id, execution_id, kind, function_name, args, state, queue, tags, priority, scheduled_for)
       SELECT root_task_id, id, 'function', function_name, '[]', 'pending', queue, tags, priority,
              now() + CASE WHEN random() < 0.1 THEN interval '1 hour' ELSE interval '0' END FROM e`,
      [PENDING_ROWS],
    );
    await db.query(
      `WITH ids AS (SELECT gen_random_uuid() AS eid, gen_random_uuid() AS tid FROM generate_series(1, 5000)),
       e AS (INSERT INTO senpuki_executions (id, function_name, args, state, queue, root_task_id, finished_at)
             SELECT eid, 'work', '[]', 'completed', 'default', tid, now() FROM ids RETURNING id, root_task_id)
       INSERT INTO senpuki_tasks (id, execution_id, kind, function_name, args, state, queue, finished_at)
       SELECT root_task_id, id, 'function', 'work', '[]', 'completed', 'default', now() FROM e`,
    );
    await db.query('ANALYZE senpuki_tasks');
    await db.query('ANALYZE senpuki_executions');
  });
  after(() => testStore.dispose());

  it('claims by walking an index in order, checking each candidate execution by its key', async () => {
    const statements: ExplainedStatement[] = [];
    const claimed = await claimTasks(explaining(testStore.store.db, statements), {
      workerId: 'plan-worker', queues: ['default', 'other'], functionNames: ['work'], limit: 10, leaseMs: 60_000,
    });
    assert.equal(claimed.length, 10);
    assert.ok(claimed.every((task) => task.executionStarted), 'the claim started each root task\'s execution');
    assert.deepEqual(claimed.map((task) => task.priority), Array(10).fill(2), 'the highest priority first');
    assertBacklogIndependent(statements);
  });

  it('claims with tags and a concurrency-limited function the same way', async () => {
    const statements: ExplainedStatement[] = [];
    const claimed = await claimTasks(explaining(testStore.store.db, statements), {
      workerId: 'plan-worker-2', queues: ['default', 'other'], tags: ['eu'], functionNames: ['work', 'limited'],
      limits: { limited: 3 }, limit: 10, leaseMs: 60_000,
    });
    assert.equal(claimed.length, 10);
    assert.ok(claimed.every((task) => task.tags.includes('eu')));
    assert.ok(claimed.filter((task) => task.functionName === 'limited').length <= 3);
    assert.ok(statements.length >= 3, 'the due check, the running count and the claim were explained');
    assertBacklogIndependent(statements);
  });

  it('completes a batch of tasks by probing each execution and task by its key, with or without statistics', async () => {
    // A table filled since it was last analyzed (a backlog dispatched in bulk) is where a plan
    // that hashes every execution looks cheapest to the planner: check a fresh store too.
    const fresh = await openPostgresTestStore();
    try {
      await fresh.store.createExecutions(
        Array.from({ length: 5000 }, () => ({
          id: randomUUID(), rootTaskId: randomUUID(), functionName: 'work', args: [], queue: 'default', tags: [], priority: 0, delayMs: 0, maxAttempts: 1,
        })),
      );
      for (const store of [testStore.store, fresh.store]) {
        const claimed = await claimTasks(store.db, { workerId: 'plan-worker-3', queues: ['default'], functionNames: ['work'], limit: 10, leaseMs: 60_000 });
        const statements: ExplainedStatement[] = [];
        const written = await completeTasks(
          explaining(store.db, statements),
          'plan-worker-3',
          claimed.map((task) => ({ taskId: task.id, executionId: task.executionId, result: { ok: true } })),
        );
        assert.equal(written.size, 10);
        assertBacklogIndependent(statements);
      }
    } finally {
      await fresh.dispose();
    }
  });

  it('plans the claim once per connection, generically, on connections of its own', async () => {
    const { store } = testStore;
    const mode = async (db: Queryable) => (await db.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode')).rows[0]!.plan_cache_mode;
    assert.equal(await mode(store.db.genericPlans), 'force_generic_plan');
    assert.notEqual(await mode(store.db), 'force_generic_plan', 'every other statement keeps its custom plans');
    const claims = 6;
    for (let i = 0; i < claims; i++) {
      const claimed = await store.claimTasks({ workerId: 'plan-worker-4', queues: ['default', 'other'], functionNames: ['work'], limit: 2, leaseMs: 60_000 });
      assert.equal(claimed.length, 2);
    }
    // One claim at a time reuses one connection: the one this reads (a session sees only its own statements).
    const { rows } = await store.db.genericPlans.query<{ generic_plans: number; custom_plans: number }>(
      `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%FOR UPDATE OF t SKIP LOCKED%'`,
    );
    assert.equal(rows.length, 1, 'one prepared claim statement on the connection');
    assert.equal(rows[0]!.custom_plans, 0);
    assert.ok(rows[0]!.generic_plans >= claims, `every claim ran the generic plan (${rows[0]!.generic_plans})`);
  });

  it('finds when the next task is due by reading the first row of each queue', async () => {
    for (const options of [
      { queues: ['default', 'other'], functionNames: ['work'] },
      { queues: ['default', 'other'], functionNames: ['work', 'limited'], tags: ['us'], limitedFunctions: ['limited'] },
    ]) {
      const statements: ExplainedStatement[] = [];
      const ms = await msUntilNextDue(explaining(testStore.store.db, statements), options);
      assert.equal(ms, 0, 'due rows are waiting');
      assertBacklogIndependent(statements);
    }
  });
});

describe('claim plans on the embedded store', () => {
  let testStore: TestStore;
  before(async () => {
    testStore = await openPgliteTestStore();
    await testStore.store.createExecutions(
      Array.from({ length: 20 }, () => ({
        id: randomUUID(), rootTaskId: randomUUID(), functionName: 'work', args: [], queue: 'default', tags: [], priority: 0, delayMs: 0, maxAttempts: 1,
      })),
    );
  });
  after(() => testStore.dispose());

  it('plans the claim once, generically, forcing that for the claim\'s own transaction only', async () => {
    const { store } = testStore;
    const claims = 6;
    for (let i = 0; i < claims; i++) {
      const claimed = await store.claimTasks({ workerId: 'plan-worker', queues: ['default'], functionNames: ['work'], limit: 2, leaseMs: 60_000 });
      assert.equal(claimed.length, 2);
    }
    const { rows } = await store.db.query<{ generic_plans: number; custom_plans: number }>(
      `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%FOR UPDATE OF t SKIP LOCKED%'`,
    );
    assert.equal(rows.length, 1, 'one prepared claim statement');
    assert.equal(rows[0]!.custom_plans, 0);
    assert.ok(rows[0]!.generic_plans >= claims, `every claim ran the generic plan (${rows[0]!.generic_plans})`);
    const mode = await store.db.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode');
    assert.notEqual(mode.rows[0]!.plan_cache_mode, 'force_generic_plan', 'every other statement keeps its custom plans');
  });
});
