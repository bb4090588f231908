import type { ExecutionRecord, ExecutionState, Json, StoredError, TaskRecord } from '../domain/types.js';
import { mergeChanges, noChanges, type Changes } from './changes.js';
import type { Queryable } from './db.js';
import { prepared } from './prepared.js';
import { EXECUTION_COLUMNS, TASK_COLUMNS, aliased, qualify, toExecution, toTask, unprefixed, type ExecutionRow, type TaskRow } from './rows.js';

export const ACTIVE_EXECUTION_STATES: ExecutionState[] = ['pending', 'running'];

export interface NewExecution {
  id: string;
  rootTaskId: string;
  functionName: string;
  args: Json[];
  queue: string;
  tags: string[];
  priority: number;
  idempotencyKey?: string;
  delayMs: number;
  maxDurationMs?: number;
  maxAttempts: number;
  /** The trace context of the dispatch, stored on the root task (the worker continues the trace). */
  traceContext?: Record<string, string>;
}

/** A worker that takes a dispatch's root task at once (see `insertExecution`). */
export interface DispatchLease {
  workerId: string;
  leaseMs: number;
}

/**
 * Inserts an execution and its root task in one statement. With an idempotency key already taken
 * nothing is inserted and the existing execution is returned (`created: false`); two concurrent
 * dispatches with one key serialise on the unique index.
 *
 * With a `lease`, the execution starts running and its root task is leased to that worker in the
 * same statement, as a claim would have done once the dispatch had committed (the worker's
 * process decided it has a free slot and nothing else waiting for it): one commit less between a
 * dispatch and its start. The leased task is returned as the claim would return it.
 */
export async function insertExecution(
  db: Queryable,
  input: NewExecution,
  lease?: DispatchLease,
): Promise<{ execution: ExecutionRecord; created: boolean; leasedTask?: TaskRecord }> {
  const { rows } = await db.query<ExecutionRow & Record<string, unknown>>(
    prepared(`WITH e AS (
       INSERT INTO senpuki_executions
         (id, function_name, args, state, queue, tags, priority, idempotency_key, root_task_id, deadline_at${lease ? ', started_at' : ''})
       VALUES ($1, $2, $3, '${lease ? 'running' : 'pending'}', $4, $5, $6, $7, $8,
               now() + ($9::bigint + $10::bigint) * interval '1 millisecond'${lease ? ', now()' : ''})
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING ${EXECUTION_COLUMNS}
     ), t AS (
       INSERT INTO senpuki_tasks
         (id, execution_id, kind, function_name, args, state, max_attempts, queue, tags, priority, scheduled_for, trace_context${
           lease ? ', lease_owner, lease_expires_at, started_at, run_started_at' : ''
         })
       SELECT $8, e.id, 'function', $2, $3, '${lease ? 'running' : 'pending'}', $11, $4, $5, $6, now() + $9::bigint * interval '1 millisecond', $12::jsonb${
         lease ? ", $13, now() + $14::bigint * interval '1 millisecond', now(), now()" : ''
       }
       FROM e
       ${lease ? `RETURNING ${aliased(TASK_COLUMNS, LEASED_TASK_PREFIX)}` : ''}
     )
     SELECT * FROM e${lease ? ' CROSS JOIN t' : ''}`),
    [
      input.id,
      input.functionName,
      JSON.stringify(input.args),
      input.queue,
      input.tags,
      input.priority,
      input.idempotencyKey ?? null,
      input.rootTaskId,
      input.delayMs,
      input.maxDurationMs ?? null,
      input.maxAttempts,
      input.traceContext ? JSON.stringify(input.traceContext) : null,
      ...(lease ? [lease.workerId, lease.leaseMs] : []),
    ],
  );
  const row = rows[0];
  if (row) return { execution: toExecution(row), created: true, leasedTask: lease ? toTask(unprefixed<TaskRow>(row, LEASED_TASK_PREFIX)) : undefined };
  const existing = await db.query<ExecutionRow>(
    `SELECT ${EXECUTION_COLUMNS} FROM senpuki_executions WHERE idempotency_key = $1`,
    [input.idempotencyKey],
  );
  return { execution: toExecution(existing.rows[0]!), created: false };
}

/** The leased task's columns, next to the execution's in one row. */
const LEASED_TASK_PREFIX = 'task_';

/**
 * `insertExecution` for many executions in one statement, results in input order. An item whose
 * idempotency key is taken (by an earlier execution, or an earlier item of the same batch) gets
 * that execution with `created: false`; only keys taken by a write not yet visible to the
 * statement's snapshot cost a second, small read.
 */
export async function insertExecutions(
  db: Queryable,
  inputs: NewExecution[],
): Promise<Array<{ execution: ExecutionRecord; created: boolean }>> {
  const { rows } = await db.query<ExecutionRow & { n: number; created: boolean }>(
    prepared(`WITH input AS MATERIALIZED (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(n int, id uuid, root_task_id uuid, function_name text, args jsonb,
         queue text, tags text[], priority int, idempotency_key text, delay_ms bigint, max_duration_ms bigint, max_attempts int,
         trace_context jsonb)
     ), e AS (
       INSERT INTO senpuki_executions
         (id, function_name, args, state, queue, tags, priority, idempotency_key, root_task_id, deadline_at)
       SELECT i.id, i.function_name, i.args, 'pending', i.queue, i.tags, i.priority, i.idempotency_key, i.root_task_id,
              now() + (i.delay_ms + i.max_duration_ms) * interval '1 millisecond'
       FROM input i ORDER BY i.n
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING ${EXECUTION_COLUMNS}
     ), t AS (
       INSERT INTO senpuki_tasks
         (id, execution_id, kind, function_name, args, state, max_attempts, queue, tags, priority, scheduled_for, trace_context)
       SELECT e.root_task_id, e.id, 'function', e.function_name, e.args, 'pending', i.max_attempts, e.queue, e.tags, e.priority,
              now() + i.delay_ms * interval '1 millisecond', i.trace_context
       FROM e JOIN input i ON i.id = e.id
     )
     SELECT i.n, true AS created, e.* FROM e JOIN input i ON i.id = e.id
     UNION ALL
     SELECT i.n, false, ${qualify(EXECUTION_COLUMNS, 'x')}
     FROM input i JOIN senpuki_executions x ON x.idempotency_key = i.idempotency_key
     WHERE i.id NOT IN (SELECT id FROM e)`),
    [
      JSON.stringify(
        inputs.map((input, n) => ({
          n,
          id: input.id,
          root_task_id: input.rootTaskId,
          function_name: input.functionName,
          args: input.args,
          queue: input.queue,
          tags: input.tags,
          priority: input.priority,
          idempotency_key: input.idempotencyKey ?? null,
          delay_ms: input.delayMs,
          max_duration_ms: input.maxDurationMs ?? null,
          max_attempts: input.maxAttempts,
          trace_context: input.traceContext ?? null,
        })),
      ),
    ],
  );
  const results: Array<{ execution: ExecutionRecord; created: boolean } | undefined> = new Array(inputs.length);
  for (const row of rows) results[row.n] = { execution: toExecution(row), created: row.created };
  const unresolved = inputs.flatMap((input, n) => (results[n] ? [] : [input.idempotencyKey!]));
  if (unresolved.length > 0) {
    const { rows: existing } = await db.query<ExecutionRow>(
      `SELECT ${EXECUTION_COLUMNS} FROM senpuki_executions WHERE idempotency_key = ANY($1::text[])`,
      [unresolved],
    );
    const byKey = new Map(existing.map((row) => [row.idempotency_key, toExecution(row)]));
    inputs.forEach((input, n) => (results[n] ??= { execution: byKey.get(input.idempotencyKey!)!, created: false }));
  }
  return results as Array<{ execution: ExecutionRecord; created: boolean }>;
}

export async function selectExecution(db: Queryable, id: string): Promise<ExecutionRecord | undefined> {
  const { rows } = await db.query<ExecutionRow>(`SELECT ${EXECUTION_COLUMNS} FROM senpuki_executions WHERE id = $1`, [id]);
  return rows[0] && toExecution(rows[0]);
}

export async function selectExecutions(db: Queryable, ids: readonly string[]): Promise<ExecutionRecord[]> {
  const { rows } = await db.query<ExecutionRow>(
    prepared(`SELECT ${EXECUTION_COLUMNS} FROM senpuki_executions WHERE id = ANY($1::uuid[])`),
    [ids],
  );
  return rows.map(toExecution);
}

export interface ExecutionFilter {
  state?: ExecutionState | ExecutionState[];
  functionName?: string;
  tag?: string;
  queue?: string;
  createdAfter?: Date;
  createdBefore?: Date;
}

/** Keyset cursor: the position after which a page starts (newest first). */
export interface ExecutionCursor {
  createdAt: Date;
  id: string;
}

/** The WHERE clause of `filter`, pushing its values onto `params`. */
export function filterSql(filter: ExecutionFilter, params: unknown[]): string {
  const where: string[] = [];
  const add = (sql: (placeholder: string) => string, value: unknown) => {
    params.push(value);
    where.push(sql(`$${params.length}`));
  };
  if (filter.state !== undefined) {
    add((p) => `state = ANY(${p}::text[])`, Array.isArray(filter.state) ? filter.state : [filter.state]);
  }
  if (filter.functionName !== undefined) add((p) => `function_name = ${p}`, filter.functionName);
  if (filter.tag !== undefined) add((p) => `${p} = ANY(tags)`, filter.tag);
  if (filter.queue !== undefined) add((p) => `queue = ${p}`, filter.queue);
  if (filter.createdAfter !== undefined) add((p) => `created_at > ${p}`, filter.createdAfter);
  if (filter.createdBefore !== undefined) add((p) => `created_at < ${p}`, filter.createdBefore);
  return where.length ? where.join(' AND ') : 'true';
}

export async function selectExecutionPage(
  db: Queryable,
  filter: ExecutionFilter,
  limit: number,
  after?: ExecutionCursor,
): Promise<ExecutionRecord[]> {
  const params: unknown[] = [];
  let where = filterSql(filter, params);
  if (after) {
    params.push(after.createdAt, after.id);
    where += ` AND (created_at, id) < ($${params.length - 1}, $${params.length}::uuid)`;
  }
  params.push(limit);
  const { rows } = await db.query<ExecutionRow>(
    `SELECT ${EXECUTION_COLUMNS} FROM senpuki_executions WHERE ${where}
     ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return rows.map(toExecution);
}

export async function countExecutionRows(db: Queryable, filter: ExecutionFilter): Promise<number> {
  const params: unknown[] = [];
  const { rows } = await db.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM senpuki_executions WHERE ${filterSql(filter, params)}`,
    params,
  );
  return rows[0]!.count;
}

/** Locks an execution row for the rest of the transaction and returns its state. */
export async function lockExecution(
  tx: Queryable,
  id: string,
): Promise<{ state: ExecutionState; rootTaskId: string } | undefined> {
  const { rows } = await tx.query<{ state: ExecutionState; root_task_id: string }>(
    'SELECT state, root_task_id FROM senpuki_executions WHERE id = $1 FOR UPDATE',
    [id],
  );
  return rows[0] && { state: rows[0].state, rootTaskId: rows[0].root_task_id };
}

/** Ends an active execution (completed/failed/timed_out) and cancels its idle tasks; terminal states are never overwritten. */
export async function finishExecution(
  tx: Queryable,
  id: string,
  state: 'completed' | 'failed' | 'timed_out',
  outcome: { result?: Json; error?: StoredError },
): Promise<Changes> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE senpuki_executions SET state = $2, result = $3, error = $4, finished_at = now()
     WHERE id = $1 AND state IN ('pending', 'running') RETURNING id`,
    [id, state, outcome.result === undefined ? null : JSON.stringify(outcome.result), outcome.error ?? null],
  );
  const changes = noChanges();
  if (!rows[0]) return changes;
  changes.executions.push({ id, state });
  // Children still pending or waiting will never be needed now.
  return mergeChanges(changes, await cancelIdleTasks(tx, [id]));
}

/** A cancelling execution becomes cancelled once none of its tasks is still running. */
export async function settleCancelling(tx: Queryable, id: string): Promise<Changes> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE senpuki_executions e SET state = 'cancelled', finished_at = now()
     WHERE e.id = $1 AND e.state = 'cancelling'
       AND NOT EXISTS (SELECT 1 FROM senpuki_tasks t WHERE t.execution_id = e.id AND t.state = 'running')
     RETURNING e.id`,
    [id],
  );
  const changes = noChanges();
  if (rows[0]) changes.executions.push({ id, state: 'cancelled' });
  return changes;
}

/** Cancels the tasks of an execution that no worker is running (pending or waiting). */
export async function cancelIdleTasks(tx: Queryable, executionIds: string[]): Promise<Changes> {
  const { rows } = await tx.query<{ id: string; execution_id: string }>(
    `UPDATE senpuki_tasks SET state = 'cancelled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
     WHERE execution_id = ANY($1::uuid[]) AND state IN ('pending', 'waiting') RETURNING id, execution_id`,
    [executionIds],
  );
  const changes = noChanges();
  for (const row of rows) changes.tasks.push({ id: row.id, state: 'cancelled', executionId: row.execution_id });
  return changes;
}

