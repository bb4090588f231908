import type { Json, Progress } from '../domain/types.js';
import { noChanges, type Changes } from './changes.js';
import type { Queryable } from './db.js';

/** What a task reports about its execution; absent members are left as they are. */
export interface ProgressPatch {
  progress?: Progress;
  /** Added to the named counters (created at 0). */
  increments?: Record<string, number>;
  /** Replaces the custom state (`null` clears it). */
  customState?: Json;
}

/**
 * Overwrites the execution's progress and custom state and adds to its counters, in place (no
 * history: storage stays bounded). Fenced like every task write: only the worker holding the
 * task's lease may write, and only while the execution is active.
 */
export async function updateExecutionProgress(
  db: Queryable,
  executionId: string,
  taskId: string,
  workerId: string,
  patch: ProgressPatch,
): Promise<Changes> {
  const { rows } = await db.query<{ id: string; state: 'pending' | 'running' }>(
    `UPDATE senpuki_executions e SET
       progress = CASE WHEN $4::jsonb IS NULL THEN e.progress ELSE $4::jsonb END,
       custom_state = CASE WHEN $6::boolean THEN $5::jsonb ELSE e.custom_state END,
       counters = e.counters || coalesce(
         (SELECT jsonb_object_agg(i.key, coalesce((e.counters->>i.key)::float8, 0) + i.value::text::float8)
          FROM jsonb_each($7::jsonb) i), '{}'::jsonb)
     WHERE e.id = $1 AND e.state IN ('pending', 'running')
       AND EXISTS (SELECT 1 FROM senpuki_tasks t WHERE t.id = $2 AND t.lease_owner = $3 AND t.state = 'running')
     RETURNING e.id, e.state`,
    [
      executionId,
      taskId,
      workerId,
      patch.progress === undefined ? null : JSON.stringify(patch.progress),
      patch.customState === undefined ? null : JSON.stringify(patch.customState),
      patch.customState !== undefined,
      JSON.stringify(patch.increments ?? {}),
    ],
  );
  const changes = noChanges();
  if (rows[0]) changes.executions.push({ id: executionId, state: rows[0].state });
  return changes;
}
