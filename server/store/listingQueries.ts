import type { ExecutionRecord, TaskRecord } from '../domain/types.js';
import type { Queryable } from './db.js';
import { filterSql, type ExecutionFilter } from './executionQueries.js';
import { EXECUTION_COLUMNS, TASK_COLUMNS, toExecution, toTask, type ExecutionRow, type TaskRow } from './rows.js';

/**
 * Keyset position in the newest-first execution list, with `created_at` at the database's full
 * (microsecond) precision: a JS Date keeps milliseconds only, and a cursor rounded to them skips
 * or repeats rows created within the same millisecond.
 */
export interface ExactExecutionCursor {
  /** `created_at` in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
  createdAt: string;
  id: string;
}

export interface ExecutionPageRow {
  execution: ExecutionRecord;
  cursor: ExactExecutionCursor;
}

const CURSOR_CREATED_AT = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_created_at`;

/** One page of executions, newest first, after an exact cursor. */
export async function selectExecutionPageExact(
  db: Queryable,
  filter: ExecutionFilter,
  limit: number,
  after?: ExactExecutionCursor,
): Promise<ExecutionPageRow[]> {
  const params: unknown[] = [];
  let where = filterSql(filter, params);
  if (after) {
    params.push(after.createdAt, after.id);
    where += ` AND (created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`;
  }
  params.push(limit);
  const { rows } = await db.query<ExecutionRow & { cursor_created_at: string }>(
    `SELECT ${EXECUTION_COLUMNS}, ${CURSOR_CREATED_AT} FROM senpuki_executions WHERE ${where}
     ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return rows.map((row) => ({ execution: toExecution(row), cursor: { createdAt: row.cursor_created_at, id: row.id } }));
}

/**
 * Executions matching `filter` whose last write is after change sequence `afterSeq`, oldest
 * write first: what list subscriptions poll and resume from.
 */
export async function selectExecutionsChangedAfter(
  db: Queryable,
  filter: ExecutionFilter,
  afterSeq: string,
  limit: number,
): Promise<ExecutionRecord[]> {
  const params: unknown[] = [];
  const where = filterSql(filter, params);
  params.push(afterSeq, limit);
  const { rows } = await db.query<ExecutionRow>(
    `SELECT ${EXECUTION_COLUMNS} FROM senpuki_executions
     WHERE ${where} AND change_seq > $${params.length - 1}::bigint
     ORDER BY change_seq LIMIT $${params.length}`,
    params,
  );
  return rows.map(toExecution);
}

/** Tasks of one execution written after change sequence `afterSeq`, oldest write first (its task list subscription). */
export async function selectExecutionTasksChangedAfter(db: Queryable, executionId: string, afterSeq: string, limit: number): Promise<TaskRecord[]> {
  const { rows } = await db.query<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM senpuki_tasks WHERE execution_id = $1 AND change_seq > $2::bigint ORDER BY change_seq LIMIT $3`,
    [executionId, afterSeq, limit],
  );
  return rows.map(toTask);
}

/** The change sequence of the latest execution write ('0' when there is none). */
export async function selectMaxExecutionChangeSeq(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ seq: string }>(
    `SELECT coalesce(max(change_seq), 0)::text AS seq FROM senpuki_executions`,
  );
  return rows[0]!.seq;
}

/** The change sequence of the latest write to one execution's tasks ('0' when there is none). */
export async function selectMaxExecutionTaskChangeSeq(db: Queryable, executionId: string): Promise<string> {
  const { rows } = await db.query<{ seq: string }>(
    `SELECT coalesce(max(change_seq), 0)::text AS seq FROM senpuki_tasks WHERE execution_id = $1`,
    [executionId],
  );
  return rows[0]!.seq;
}

/** Resolves when the database answers (health checks). */
export async function ping(db: Queryable): Promise<void> {
  await db.query('SELECT 1');
}

/**
 * Due pending tasks per queue, each count stopping at `cap`: a walk of the claim index that
 * costs at most `cap` entries per queue, however deep the backlog (for a sampled gauge).
 */
export async function countDueTasksByQueue(db: Queryable, queues: string[], cap: number): Promise<Map<string, number>> {
  const { rows } = await db.query<{ queue: string; count: number }>(
    `SELECT q.queue, (SELECT count(*)::int FROM (
         SELECT 1 FROM senpuki_tasks t WHERE t.state = 'pending' AND t.queue = q.queue AND t.scheduled_for <= now() LIMIT $2
       ) due) AS count
     FROM unnest($1::text[]) AS q(queue)`,
    [queues, cap],
  );
  return new Map(rows.map((row) => [row.queue, row.count]));
}
