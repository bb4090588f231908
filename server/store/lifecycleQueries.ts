import type { ExecutionState, Json, StoredError } from '../domain/types.js';
import { mergeChanges, noChanges, type Changes } from './changes.js';
import type { Db, Queryable } from './db.js';
import { cancelIdleTasks, finishExecution, lockExecution, settleCancelling } from './executionQueries.js';
import { appendRun } from './rows.js';
import { DEAD_WORKER } from './workerQueries.js';

/**
 * Moves an active execution to `cancelling`, cancels its idle tasks, and to `cancelled` at once
 * when no task is running; otherwise the last running task to finish settles it.
 * Returns the state the execution is in afterwards (undefined when it does not exist).
 */
export async function requestCancel(
  tx: Queryable,
  executionId: string,
): Promise<{ state: ExecutionState; changes: Changes } | undefined> {
  const execution = await lockExecution(tx, executionId);
  if (!execution) return undefined;
  const changes = noChanges();
  if (execution.state !== 'pending' && execution.state !== 'running') return { state: execution.state, changes };
  await tx.query(`UPDATE senpuki_executions SET state = 'cancelling' WHERE id = $1`, [executionId]);
  changes.executions.push({ id: executionId, state: 'cancelling' });
  mergeChanges(changes, await cancelIdleTasks(tx, [executionId]));
  const settled = await settleCancelling(tx, executionId);
  mergeChanges(changes, settled);
  return { state: settled.executions.length ? 'cancelled' : 'cancelling', changes };
}

/** Ends executions past their deadline as `timed_out` (a batch at a time; safe from many workers at once). */
export async function timeOutExpired(tx: Queryable, limit: number): Promise<Changes> {
  const error: StoredError = { name: 'ExecutionTimeoutError', message: 'The execution ran past its maxDuration' };
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE senpuki_executions SET state = 'timed_out', error = $2, finished_at = now()
     WHERE id IN (SELECT id FROM senpuki_executions
                  WHERE deadline_at <= now() AND state IN ('pending', 'running')
                  ORDER BY deadline_at LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING id`,
    [limit, error],
  );
  const changes = noChanges();
  if (rows.length === 0) return changes;
  for (const row of rows) changes.executions.push({ id: row.id, state: 'timed_out' });
  return mergeChanges(changes, await cancelIdleTasks(tx, rows.map((row) => row.id)));
}

export interface ReapOptions {
  /** Batch size. */
  limit: number;
  /** A worker not seen for this long, whose presence lock is free, is dead (see `workerQueries.ts`). */
  workerStaleMs: number;
  /** Times a task may be taken back from a dead worker; the next loss fails it for good. */
  maxLeaseLosses: number;
}

/**
 * Takes back tasks whose worker is gone: dead (its presence lock released, not seen lately) or
 * silent past the lease (crashed without closing its connection, partitioned). They go back to
 * `pending` for another worker to resume, or `cancelled` when their execution is no longer
 * active. Each take-back counts in `lease_losses`; a task that has lost more than
 * `maxLeaseLosses` workers is likely what kills them, and fails for good (dead letter) instead.
 */
export async function reapExpiredLeases(db: Db, options: ReapOptions): Promise<Changes> {
  const { rows } = await db.query<{
    id: string;
    state: 'pending' | 'cancelled' | 'failed';
    execution_id: string;
    queue: string;
    function_name: string;
    args: Json[];
    attempt: number;
    error: StoredError | null;
    root: boolean;
  }>(
    `WITH dead AS (
       SELECT w.id FROM senpuki_workers w WHERE ${DEAD_WORKER('w', '$2')}
     ), lost AS (
       SELECT t.id FROM senpuki_tasks t
       WHERE t.state = 'running' AND (t.lease_expires_at < now() OR t.lease_owner IN (SELECT id FROM dead))
       ORDER BY t.lease_expires_at LIMIT $1 FOR UPDATE OF t SKIP LOCKED
     ), next AS (
       SELECT t.id,
         CASE WHEN e.state NOT IN ('pending', 'running') THEN 'cancelled'
              WHEN t.lease_losses + 1 > $3 THEN 'failed' ELSE 'pending' END AS state
       FROM lost JOIN senpuki_tasks t ON t.id = lost.id JOIN senpuki_executions e ON e.id = t.execution_id
     )
     UPDATE senpuki_tasks t SET
       state = next.state,
       lease_losses = t.lease_losses + 1,
       error = CASE WHEN next.state = 'failed' THEN jsonb_build_object('name', 'WorkerLostError', 'message',
         'The worker running this task stopped (killed, crashed or cut off) ' || (t.lease_losses + 1) ||
         ' times; past ' || $3::int || ' the task fails for good: it may be what kills its workers') ELSE t.error END,
       finished_at = CASE WHEN next.state = 'pending' THEN NULL ELSE now() END,
       ${appendRun('lost')}, lease_owner = NULL, lease_expires_at = NULL
     FROM next WHERE t.id = next.id
     RETURNING t.id, t.state, t.execution_id, t.queue, t.function_name, t.args, t.attempt, t.error, t.parent_task_id IS NULL AS root`,
    [options.limit, options.workerStaleMs, options.maxLeaseLosses],
  );
  const changes = noChanges();
  for (const row of rows) {
    changes.tasks.push({ id: row.id, state: row.state, executionId: row.execution_id });
    if (row.state === 'pending') changes.wakeQueues.push(row.queue);
  }
  const failed = rows.filter((row) => row.state === 'failed');
  if (failed.length > 0) {
    await db.query(
      `INSERT INTO senpuki_dead_letters (id, task_id, execution_id, function_name, args, error, attempts)
       SELECT gen_random_uuid(), f.task_id, f.execution_id, f.function_name, f.args, f.error, f.attempts
       FROM jsonb_to_recordset($1::jsonb) AS f(task_id uuid, execution_id uuid, function_name text, args jsonb, error jsonb, attempts int)`,
      [JSON.stringify(failed.map((row) => ({ task_id: row.id, execution_id: row.execution_id, function_name: row.function_name, args: row.args, error: row.error, attempts: row.attempt })))],
    );
  }
  // In statements of their own, after the reap committed: locking execution rows while holding
  // task locks could deadlock with a worker settling a task (it locks the execution first). And
  // the reap read each execution's state without a lock: a cancel that committed meanwhile saw
  // the task still running and left it, so tasks requeued under an execution that is no longer
  // active are cancelled here, and a cancelling execution with nothing left running settles.
  for (const row of failed.filter((task) => task.root)) {
    mergeChanges(
      changes,
      await db.transaction(async (tx) => {
        if (!(await lockExecution(tx, row.execution_id))) return noChanges();
        return finishExecution(tx, row.execution_id, 'failed', { error: row.error ?? undefined });
      }),
    );
  }
  const executionIds = [...new Set(rows.map((row) => row.execution_id))];
  if (executionIds.length > 0) {
    const { rows: orphans } = await db.query<{ id: string; execution_id: string }>(
      `UPDATE senpuki_tasks t SET state = 'cancelled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
       FROM senpuki_executions e
       WHERE t.execution_id = ANY($1::uuid[]) AND e.id = t.execution_id
         AND e.state NOT IN ('pending', 'running') AND t.state IN ('pending', 'waiting')
       RETURNING t.id, t.execution_id`,
      [executionIds],
    );
    for (const row of orphans) changes.tasks.push({ id: row.id, state: 'cancelled', executionId: row.execution_id });
    for (const executionId of executionIds) mergeChanges(changes, await settleCancelling(db, executionId));
  }
  return changes;
}

/** Removes the rows of dead workers that hold no task any more (their tasks were taken back). */
export async function removeDeadWorkers(db: Queryable, workerStaleMs: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM senpuki_workers w WHERE ${DEAD_WORKER('w', '$1')}
       AND NOT EXISTS (SELECT 1 FROM senpuki_tasks t WHERE t.state = 'running' AND t.lease_owner = w.id)`,
    [workerStaleMs],
  );
  return rowCount ?? 0;
}

/**
 * Safety net for cancellations left hanging (a cancel racing a lease reap, or a process dying
 * between the two statements of a reap): cancelling executions with no running task get their
 * idle tasks cancelled and end as `cancelled`.
 */
export async function settleStalledCancellations(db: Db, limit: number): Promise<Changes> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT e.id FROM senpuki_executions e WHERE e.state = 'cancelling'
       AND NOT EXISTS (SELECT 1 FROM senpuki_tasks t WHERE t.execution_id = e.id AND t.state = 'running')
     LIMIT $1`,
    [limit],
  );
  const changes = noChanges();
  for (const { id } of rows) {
    mergeChanges(
      changes,
      await db.transaction(async (tx) => {
        const execution = await lockExecution(tx, id);
        if (execution?.state !== 'cancelling') return noChanges();
        return mergeChanges(await cancelIdleTasks(tx, [id]), await settleCancelling(tx, id));
      }),
    );
  }
  return changes;
}
