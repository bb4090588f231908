import type { DeadLetterRecord, ExecutionState, TaskKind, TaskState } from '../domain/types.js';
import { mergeChanges, noChanges, type Changes } from './changes.js';
import type { Queryable } from './db.js';
import { lockExecution } from './executionQueries.js';
import { toDeadLetter, type DeadLetterRow } from './rows.js';
import { deliverSignals, lockSignalNames } from './signalQueries.js';

export interface DeadLetterFilter {
  executionId?: string;
  functionName?: string;
}

function filterSql(filter: DeadLetterFilter, params: unknown[]): string {
  const where: string[] = ['true'];
  if (filter.executionId !== undefined) {
    params.push(filter.executionId);
    where.push(`execution_id = $${params.length}::uuid`);
  }
  if (filter.functionName !== undefined) {
    params.push(filter.functionName);
    where.push(`function_name = $${params.length}`);
  }
  return where.join(' AND ');
}

/** A page of dead letters, newest first. */
export async function selectDeadLetterPage(
  db: Queryable,
  filter: DeadLetterFilter,
  page: { limit: number; offset: number },
): Promise<DeadLetterRecord[]> {
  const params: unknown[] = [];
  const where = filterSql(filter, params);
  params.push(page.limit, page.offset);
  const { rows } = await db.query<DeadLetterRow>(
    `SELECT * FROM senpuki_dead_letters WHERE ${where}
     ORDER BY created_at DESC, id DESC LIMIT $${params.length - 1} OFFSET $${params.length}`,
    params,
  );
  return rows.map(toDeadLetter);
}

export async function countDeadLetterRows(db: Queryable, filter: DeadLetterFilter): Promise<number> {
  const params: unknown[] = [];
  const { rows } = await db.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM senpuki_dead_letters WHERE ${filterSql(filter, params)}`,
    params,
  );
  return rows[0]!.count;
}

export async function selectDeadLetter(db: Queryable, id: string): Promise<DeadLetterRecord | undefined> {
  const { rows } = await db.query<DeadLetterRow>('SELECT * FROM senpuki_dead_letters WHERE id = $1', [id]);
  return rows[0] && toDeadLetter(rows[0]);
}

/** Removes a dead letter without replaying it; false when there was none. */
export async function deleteDeadLetter(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM senpuki_dead_letters WHERE id = $1', [id]);
  return (rowCount ?? 0) > 0;
}

export type ReplayOutcome =
  | { ok: true; executionId: string; changes: Changes }
  | { ok: false; reason: 'not_found' | 'execution_gone' | 'still_running' | 'handled' }
  | { ok: false; reason: 'not_failed'; state: ExecutionState };

/**
 * Replays a dead letter of a failed execution, which continues where it failed:
 *
 * - the failed task, and every failed or cancelled task whose ancestors all failed or were
 *   cancelled (the failure's path to the root, and the siblings the failure cancelled), go back
 *   to `pending` at attempt 1 (sleeps and signal waits back to `waiting`); completed tasks keep
 *   their results, so replayed orchestrators do not run completed children again;
 * - the execution goes from `failed` back to `running` (the one exception to "terminal is
 *   final", allowed only here and only from `failed`), with a fresh maxDuration deadline;
 * - the dead letters of every reset task are removed.
 */
export async function replayDeadLetter(tx: Queryable, id: string): Promise<ReplayOutcome> {
  const { rows: letters } = await tx.query<{ task_id: string; execution_id: string }>(
    'SELECT task_id, execution_id FROM senpuki_dead_letters WHERE id = $1 FOR UPDATE',
    [id],
  );
  const letter = letters[0];
  if (!letter) return { ok: false, reason: 'not_found' };
  const executionId = letter.execution_id;
  const execution = await lockExecution(tx, executionId);
  if (!execution) return { ok: false, reason: 'execution_gone' };
  if (execution.state !== 'failed') return { ok: false, reason: 'not_failed', state: execution.state };
  const { rows: busy } = await tx.query(`SELECT 1 FROM senpuki_tasks WHERE execution_id = $1 AND state = 'running' LIMIT 1`, [
    executionId,
  ]);
  if (busy[0]) return { ok: false, reason: 'still_running' };
  const { rows: reset } = await tx.query<{ id: string; kind: TaskKind; function_name: string }>(
    `WITH RECURSIVE path AS (
       SELECT id, kind, function_name FROM senpuki_tasks WHERE id = $1 AND state IN ('failed', 'cancelled')
       UNION ALL
       SELECT t.id, t.kind, t.function_name FROM senpuki_tasks t JOIN path p ON t.parent_task_id = p.id
       WHERE t.state IN ('failed', 'cancelled')
     )
     SELECT id, kind, function_name FROM path`,
    [execution.rootTaskId],
  );
  if (!reset.some((task) => task.id === letter.task_id)) return { ok: false, reason: 'handled' };
  const waitNames = reset.filter((task) => task.kind === 'signal').map((task) => task.function_name);
  await lockSignalNames(tx, executionId, waitNames); // Before the rows: the order every signal writer uses.
  const { rows: revived } = await tx.query<{ id: string; state: TaskState; queue: string }>(
    `UPDATE senpuki_tasks SET
       state = CASE WHEN kind = 'function' THEN 'pending' ELSE 'waiting' END,
       scheduled_for = CASE
         WHEN kind = 'function' THEN now()
         -- A wait that timed out waits its full timeout again; sleeps and cancelled waits keep their due time.
         WHEN kind = 'signal' AND state = 'failed' THEN now() + (args->>0)::bigint * interval '1 millisecond'
         ELSE scheduled_for END,
       started_at = CASE WHEN kind = 'function' THEN NULL ELSE started_at END,
       attempt = 1, lease_losses = 0, parent_attempt = 1, result = NULL, error = NULL, finished_at = NULL,
       lease_owner = NULL, lease_expires_at = NULL
     WHERE id = ANY($1::uuid[])
     RETURNING id, state, queue`,
    [reset.map((task) => task.id)],
  );
  await tx.query(
    `UPDATE senpuki_executions SET state = 'running', result = NULL, error = NULL, finished_at = NULL,
       deadline_at = CASE WHEN deadline_at IS NULL THEN NULL
                          ELSE now() + (deadline_at - coalesce(started_at, created_at)) END
     WHERE id = $1`,
    [executionId],
  );
  await tx.query('DELETE FROM senpuki_dead_letters WHERE execution_id = $1 AND task_id = ANY($2::uuid[])', [
    executionId,
    reset.map((task) => task.id),
  ]);
  const changes = noChanges();
  changes.executions.push({ id: executionId, state: 'running' });
  for (const task of revived) {
    changes.tasks.push({ id: task.id, state: task.state, executionId });
    if (task.state === 'pending') changes.wakeQueues.push(task.queue);
  }
  // Signals buffered while a revived wait was not waiting go to it now.
  if (waitNames.length) mergeChanges(changes, await deliverSignals(tx, executionId, waitNames));
  return { ok: true, executionId, changes };
}
