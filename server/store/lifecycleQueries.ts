import type { ExecutionState, StoredError } from '../engine/types.js';
import { mergeChanges, noChanges, type Changes } from './changes.js';
import type { Db, Queryable } from './db.js';
import { cancelIdleTasks, lockExecution, settleCancelling } from './executionQueries.js';

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

/**
 * Takes back tasks whose worker stopped renewing its lease (crashed, partitioned): back to
 * `pending` for another worker to resume, or `cancelled` when their execution is no longer active.
 */
export async function reapExpiredLeases(db: Queryable, limit: number): Promise<Changes> {
  const { rows } = await db.query<{ id: string; state: 'pending' | 'cancelled'; execution_id: string; queue: string }>(
    `WITH expired AS (
       SELECT id FROM senpuki_tasks WHERE state = 'running' AND lease_expires_at < now()
       ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
     )
     UPDATE senpuki_tasks t SET
       state = CASE WHEN e.state IN ('pending', 'running') THEN 'pending' ELSE 'cancelled' END,
       finished_at = CASE WHEN e.state IN ('pending', 'running') THEN NULL ELSE now() END,
       lease_owner = NULL, lease_expires_at = NULL
     FROM expired, senpuki_executions e
     WHERE t.id = expired.id AND e.id = t.execution_id
     RETURNING t.id, t.state, t.execution_id, t.queue`,
    [limit],
  );
  const changes = noChanges();
  for (const row of rows) {
    changes.tasks.push({ id: row.id, state: row.state, executionId: row.execution_id });
    if (row.state === 'pending') changes.wakeQueues.push(row.queue);
  }
  // In statements of their own, after the reap committed: locking execution rows while holding
  // task locks could deadlock with a worker settling a task (it locks the execution first). And
  // the reap read each execution's state without a lock: a cancel that committed meanwhile saw
  // the task still running and left it, so tasks requeued under an execution that is no longer
  // active are cancelled here, and a cancelling execution with nothing left running settles.
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
