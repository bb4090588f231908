import type { Json } from '../domain/types.js';
import { noChanges, type Changes } from './changes.js';
import type { Queryable } from './db.js';
import { prepared } from './prepared.js';
import { appendRun } from './rows.js';

/** A task's successful result, to be written under this worker's lease. */
export interface Completion {
  taskId: string;
  executionId: string;
  result: Json;
}

/**
 * Writes many completed tasks in one statement, and completes the execution of each root task
 * among them (cancelling that execution's idle tasks) in the same statement — what
 * `settleTask` does for one task in a five-statement transaction, with the same guarantees:
 *
 * - the executions are locked first, in id order (the order of cancel, timeout and `settleTask`:
 *   execution, then its tasks), so no batch deadlocks with them or with another batch;
 * - a task is written only while `workerId` holds its lease (fencing);
 * - only while its execution is active (the state read under the lock), and a finished execution
 *   is never written again ("terminal is final"); versions and change sequence come from the
 *   rows' trigger as for any write.
 *
 * Returns the changes of each task written, by task id. A task missing from the result was not
 * written: its lease is gone or its execution is no longer active, and `settleTask` decides what
 * becomes of it (cancelled, a cancelling execution settled, or nothing).
 */
export async function completeTasks(db: Queryable, workerId: string, completions: Completion[]): Promise<Map<string, Changes>> {
  const { rows } = await db.query<{ kind: 'task' | 'execution' | 'idle'; id: string; execution_id: string; task_id: string | null }>(
    prepared(`WITH input AS MATERIALIZED (
       -- A JSON null comes out of the recordset as SQL NULL; results are stored as JSON ('null').
       SELECT i.task_id, i.execution_id, coalesce(i.result, 'null'::jsonb) AS result
       FROM jsonb_to_recordset($2::jsonb) AS i(task_id uuid, execution_id uuid, result jsonb)
     ), locked AS MATERIALIZED (
       -- = ANY of an array, not IN (subquery): a primary-key probe per execution, never a hash over the table.
       SELECT e.id, e.state, e.root_task_id FROM senpuki_executions e
       WHERE e.id = ANY(ARRAY(SELECT execution_id FROM input))
       ORDER BY e.id FOR UPDATE OF e
     ), done AS (
       UPDATE senpuki_tasks t SET state = 'completed', result = i.result, finished_at = now(),
         ${appendRun('completed')}, lease_owner = NULL, lease_expires_at = NULL
       FROM input i JOIN locked l ON l.id = i.execution_id
       WHERE t.id = i.task_id AND t.execution_id = i.execution_id AND t.lease_owner = $1 AND t.state = 'running'
         AND l.state IN ('pending', 'running')
       RETURNING t.id, t.execution_id, t.id = l.root_task_id AS is_root, i.result
     ), finished AS (
       UPDATE senpuki_executions e SET state = 'completed', result = d.result, error = NULL, finished_at = now()
       FROM done d
       WHERE d.is_root AND e.id = d.execution_id AND e.state IN ('pending', 'running')
       RETURNING e.id, d.id AS task_id
     ), idle AS (
       UPDATE senpuki_tasks t SET state = 'cancelled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
       FROM finished f
       WHERE t.execution_id = f.id AND t.state IN ('pending', 'waiting')
       RETURNING t.id, t.execution_id, f.task_id
     )
     SELECT 'task' AS kind, id, execution_id, id AS task_id FROM done
     UNION ALL SELECT 'execution', id, id, task_id FROM finished
     UNION ALL SELECT 'idle', id, execution_id, task_id FROM idle`),
    [
      workerId,
      JSON.stringify(completions.map((c) => ({ task_id: c.taskId, execution_id: c.executionId, result: c.result }))),
    ],
  );
  const written = new Map<string, Changes>();
  for (const row of rows) if (row.kind === 'task') written.set(row.id, noChanges());
  // In the order `settleTask` reports them: the task, then its execution, then the idle tasks cancelled.
  for (const kind of ['task', 'execution', 'idle'] as const) {
    for (const row of rows) {
      if (row.kind !== kind) continue;
      const changes = written.get(row.task_id!)!;
      if (kind === 'task') changes.tasks.push({ id: row.id, state: 'completed', executionId: row.execution_id });
      else if (kind === 'execution') changes.executions.push({ id: row.id, state: 'completed' });
      else changes.tasks.push({ id: row.id, state: 'cancelled', executionId: row.execution_id });
    }
  }
  return written;
}
