import type { ExecutionState, Json, StoredError, TaskKind, TaskRecord, TaskState } from '../domain/types.js';
import { mergeChanges, noChanges, type Changes } from './changes.js';
import type { Queryable } from './db.js';
import { prepared } from './prepared.js';
import { ACTIVE_EXECUTION_STATES, lockExecution, finishExecution, settleCancelling } from './executionQueries.js';
import { upsertCachedResult } from './cacheQueries.js';
import { TASK_COLUMNS, appendRun, runError, toTask, type TaskRow } from './rows.js';

export async function selectTask(db: Queryable, id: string): Promise<TaskRecord | undefined> {
  const { rows } = await db.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM senpuki_tasks WHERE id = $1`, [id]);
  return rows[0] && toTask(rows[0]);
}

export async function selectTasks(db: Queryable, ids: readonly string[]): Promise<TaskRecord[]> {
  const { rows } = await db.query<TaskRow>(prepared(`SELECT ${TASK_COLUMNS} FROM senpuki_tasks WHERE id = ANY($1::uuid[])`), [ids]);
  return rows.map(toTask);
}

export async function selectExecutionTasks(db: Queryable, executionId: string): Promise<TaskRecord[]> {
  const { rows } = await db.query<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM senpuki_tasks WHERE execution_id = $1 ORDER BY created_at, call_key NULLS FIRST`,
    [executionId],
  );
  return rows.map(toTask);
}

export interface HeartbeatResult {
  /** Leases renewed, with the state of each task's execution. */
  held: Map<string, ExecutionState>;
}

/** Renews this worker's leases; a task missing from the result has lost its lease. */
export async function renewLeases(
  db: Queryable,
  workerId: string,
  taskIds: string[],
  leaseMs: number,
): Promise<HeartbeatResult> {
  const { rows } = await db.query<{ id: string; execution_state: ExecutionState }>(
    `UPDATE senpuki_tasks t SET lease_expires_at = now() + $3::bigint * interval '1 millisecond'
     FROM senpuki_executions e
     WHERE t.id = ANY($2::uuid[]) AND t.lease_owner = $1 AND t.state = 'running' AND e.id = t.execution_id
     RETURNING t.id, e.state AS execution_state`,
    [workerId, taskIds, leaseMs],
  );
  return { held: new Map(rows.map((row) => [row.id, row.execution_state])) };
}

export type TaskOutcome =
  /** `cache`: also keep the result for later calls with the same arguments (functions declared with `cache`). */
  | { kind: 'completed'; result: Json; cache?: { argsHash: string; ttlMs: number } }
  | { kind: 'retry'; error: StoredError; delayMs: number }
  | { kind: 'failed'; error: StoredError }
  /** Give the task back unfinished (graceful shutdown): another worker resumes it. */
  | { kind: 'released' };

/**
 * Writes a task's outcome, fenced by the lease: nothing is written unless `workerId` still holds
 * it. When the execution is no longer active the outcome is discarded and the task is cancelled,
 * so no late write can revive a cancelled or timed-out execution. Returns undefined when fenced off.
 */
export async function settleTask(
  tx: Queryable,
  taskId: string,
  executionId: string,
  workerId: string,
  outcome: TaskOutcome,
): Promise<Changes | undefined> {
  const execution = await lockExecution(tx, executionId);
  if (!execution) return undefined;
  const active = ACTIVE_EXECUTION_STATES.includes(execution.state);
  const fence = `WHERE id = $1 AND lease_owner = $2 AND state = 'running' RETURNING id, state, queue, attempt, function_name, args`;
  const free = `lease_owner = NULL, lease_expires_at = NULL`;
  let sql: string;
  let params: unknown[] = [taskId, workerId];
  if (!active) {
    sql = `UPDATE senpuki_tasks SET state = 'cancelled', finished_at = now(), ${appendRun('cancelled')}, ${free} ${fence}`;
  } else if (outcome.kind === 'completed') {
    sql = `UPDATE senpuki_tasks SET state = 'completed', result = $3, finished_at = now(), ${appendRun('completed')}, ${free} ${fence}`;
    params.push(JSON.stringify(outcome.result));
  } else if (outcome.kind === 'retry') {
    sql = `UPDATE senpuki_tasks SET state = 'pending', attempt = attempt + 1, error = $3,
             scheduled_for = now() + $4::bigint * interval '1 millisecond', ${appendRun('retried', runError('$3::jsonb'))}, ${free} ${fence}`;
    params.push(outcome.error, outcome.delayMs);
  } else if (outcome.kind === 'failed') {
    sql = `UPDATE senpuki_tasks SET state = 'failed', error = $3, finished_at = now(), ${appendRun('failed', runError('$3::jsonb'))}, ${free} ${fence}`;
    params.push(outcome.error);
  } else {
    sql = `UPDATE senpuki_tasks SET state = 'pending', ${appendRun('released')}, ${free} ${fence}`;
  }
  const { rows } = await tx.query<{
    id: string;
    state: TaskState;
    queue: string;
    attempt: number;
    function_name: string;
    args: Json[];
  }>(sql, params);
  const row = rows[0];
  if (!row) return undefined;
  const changes = noChanges();
  changes.tasks.push({ id: taskId, state: row.state, executionId });
  if (row.state === 'pending' && (outcome.kind === 'released' || (outcome.kind === 'retry' && outcome.delayMs === 0))) {
    changes.wakeQueues.push(row.queue);
  }
  if (!active) {
    if (execution.state === 'cancelling') mergeChanges(changes, await settleCancelling(tx, executionId));
    return changes;
  }
  if (row.state === 'failed') {
    await tx.query(
      `INSERT INTO senpuki_dead_letters (id, task_id, execution_id, function_name, args, error, attempts)
       VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6)`,
      [taskId, executionId, row.function_name, JSON.stringify(row.args), outcome.kind === 'failed' ? outcome.error : null, row.attempt],
    );
  }
  if (row.state === 'completed' && outcome.kind === 'completed' && outcome.cache) {
    await upsertCachedResult(tx, row.function_name, outcome.cache.argsHash, outcome.result, outcome.cache.ttlMs);
  }
  if (taskId === execution.rootTaskId && (row.state === 'completed' || row.state === 'failed')) {
    mergeChanges(
      changes,
      await finishExecution(tx, executionId, row.state, {
        result: outcome.kind === 'completed' ? outcome.result : undefined,
        error: outcome.kind === 'failed' ? outcome.error : undefined,
      }),
    );
  }
  return changes;
}

export interface NewChild {
  id: string;
  callKey: string;
  kind: TaskKind;
  functionName: string;
  args: Json[];
  queue: string;
  tags: string[];
  priority: number;
  maxAttempts: number;
  /** For sleeps: when the sleep ends. For calls: when the child may start (0 = now). */
  delayMs: number;
  /** The trace context of the call's span (its worker continues the trace). */
  traceContext?: Record<string, string>;
}

/**
 * Schedules an orchestrator's children by their deterministic call keys. A key seen before keeps
 * its row (a replay finds its earlier run); a child that failed under an earlier attempt of the
 * parent is reset to run again. Returns every child row, in input order, or a reason it could not.
 */
export async function upsertChildren(
  tx: Queryable,
  parentTaskId: string,
  workerId: string,
  children: NewChild[],
): Promise<{ ok: true; tasks: TaskRecord[]; changes: Changes } | { ok: false; reason: 'lease_lost' | 'inactive' }> {
  const { rows: parents } = await tx.query<{ execution_id: string; attempt: number; state: ExecutionState }>(
    `SELECT p.execution_id, p.attempt, e.state FROM senpuki_tasks p
     JOIN senpuki_executions e ON e.id = p.execution_id
     WHERE p.id = $1 AND p.lease_owner = $2 AND p.state = 'running'
     FOR SHARE OF e`,
    [parentTaskId, workerId],
  );
  const parent = parents[0];
  if (!parent) return { ok: false, reason: 'lease_lost' };
  if (!ACTIVE_EXECUTION_STATES.includes(parent.state)) return { ok: false, reason: 'inactive' };
  const { rows: inserted } = await tx.query<{ id: string; state: TaskState; queue: string }>(
    `INSERT INTO senpuki_tasks (id, execution_id, parent_task_id, call_key, parent_attempt, kind, function_name,
       args, state, max_attempts, queue, tags, priority, scheduled_for, trace_context)
     SELECT c.id, $1, $2, c.call_key, $3, c.kind, c.function_name, c.args,
       CASE WHEN c.kind = 'function' THEN 'pending' ELSE 'waiting' END,
       c.max_attempts, c.queue, c.tags, c.priority, now() + c.delay_ms * interval '1 millisecond', c.trace_context
     FROM jsonb_to_recordset($4::jsonb) AS c(id uuid, call_key text, kind text, function_name text, args jsonb,
       max_attempts int, queue text, tags text[], priority int, delay_ms bigint, trace_context jsonb)
     ON CONFLICT (call_key) DO NOTHING
     RETURNING id, state, queue`,
    [
      parent.execution_id,
      parentTaskId,
      parent.attempt,
      JSON.stringify(
        children.map((c) => ({
          id: c.id,
          call_key: c.callKey,
          kind: c.kind,
          function_name: c.functionName,
          args: c.args,
          max_attempts: c.maxAttempts,
          queue: c.queue,
          tags: c.tags,
          priority: c.priority,
          delay_ms: c.delayMs,
          trace_context: c.traceContext ?? null,
        })),
      ),
    ],
  );
  const keys = children.map((c) => c.callKey);
  const { rows: reset } = await tx.query<{ id: string; state: TaskState; queue: string }>(
    `UPDATE senpuki_tasks SET state = 'pending', attempt = 1, lease_losses = 0, error = NULL, result = NULL, parent_attempt = $2,
       scheduled_for = now(), started_at = NULL, finished_at = NULL
     WHERE call_key = ANY($1::text[]) AND kind = 'function' AND state = 'failed' AND parent_attempt < $2
     RETURNING id, state, queue`,
    [keys, parent.attempt],
  );
  const { rows } = await tx.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM senpuki_tasks WHERE call_key = ANY($1::text[])`, [keys]);
  const byKey = new Map(rows.map((row) => [row.call_key, toTask(row)]));
  const changes = noChanges();
  for (const row of [...inserted, ...reset]) {
    changes.tasks.push({ id: row.id, state: row.state, executionId: parent.execution_id });
    if (row.state === 'pending') changes.wakeQueues.push(row.queue);
  }
  return { ok: true, tasks: keys.map((key) => byKey.get(key)!), changes };
}

/** Ends a durable sleep whose time has come (by the database clock). */
export async function completeDueSleep(db: Queryable, taskId: string): Promise<Changes> {
  const { rows } = await db.query<{ execution_id: string }>(
    `UPDATE senpuki_tasks SET state = 'completed', result = 'null', finished_at = now()
     WHERE id = $1 AND kind = 'sleep' AND state = 'waiting' AND scheduled_for <= now() RETURNING execution_id`,
    [taskId],
  );
  const changes = noChanges();
  if (rows[0]) changes.tasks.push({ id: taskId, state: 'completed', executionId: rows[0].execution_id });
  return changes;
}

/** Milliseconds from the database's now until a timestamp (negative when past). */
export async function msUntil(db: Queryable, at: Date): Promise<number> {
  const { rows } = await db.query<{ ms: number }>(`SELECT (extract(epoch FROM $1::timestamptz - now()) * 1000)::float8 AS ms`, [at]);
  return rows[0]!.ms;
}
