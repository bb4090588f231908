import type { Queryable } from './db.js';
import { TERMINAL_EXECUTION_STATES } from '../engine/types.js';

const TERMINAL_STATES = [...TERMINAL_EXECUTION_STATES];

/** Advisory lock held by the retention batch running now; per schema, so deployments sharing a database do not wait on each other. */
export const RETENTION_LOCK_SQL = `hashtextextended('senpuki:retention:' || current_schema(), 0)`;

/** Ages past which rows go; an absent age keeps those rows forever. */
export interface RetentionAges {
  /** Finished executions (completed, failed, cancelled, timed_out), counted from when they finished. */
  completedMs?: number;
  /** Dead letters, counted from when the task failed. */
  deadLettersMs?: number;
  /** Idempotency keys of finished executions, counted from dispatch: the key may then be used again. */
  idempotencyKeysMs?: number;
}

export interface PurgeCounts {
  executions: number;
  deadLetters: number;
  idempotencyKeys: number;
  cachedResults: number;
}

/**
 * Deletes one batch of each kind of expired row, or returns undefined without touching anything
 * when another worker holds the retention lock (a transaction-scoped advisory lock: released on
 * commit, or when a crashed holder's connection goes). A failed execution is kept while it has
 * dead letters, so it can still be replayed; its tasks and signals go with it (ON DELETE CASCADE).
 */
export async function purgeBatch(tx: Queryable, ages: RetentionAges, batchSize: number): Promise<PurgeCounts | undefined> {
  const { rows: lock } = await tx.query<{ locked: boolean }>(`SELECT pg_try_advisory_xact_lock(${RETENTION_LOCK_SQL}) AS locked`);
  if (!lock[0]!.locked) return undefined;
  const counts: PurgeCounts = { executions: 0, deadLetters: 0, idempotencyKeys: 0, cachedResults: 0 };
  if (ages.deadLettersMs !== undefined) {
    counts.deadLetters = await count(
      tx,
      `DELETE FROM senpuki_dead_letters WHERE id IN (
         SELECT id FROM senpuki_dead_letters WHERE created_at < now() - $1::bigint * interval '1 millisecond'
         ORDER BY created_at LIMIT $2)`,
      [ages.deadLettersMs, batchSize],
    );
  }
  if (ages.completedMs !== undefined) {
    counts.executions = await count(
      tx,
      `DELETE FROM senpuki_executions WHERE id IN (
         SELECT e.id FROM senpuki_executions e
         WHERE e.finished_at < now() - $1::bigint * interval '1 millisecond'
           AND e.state = ANY($3::text[])
           AND NOT EXISTS (SELECT 1 FROM senpuki_dead_letters d WHERE d.execution_id = e.id)
         ORDER BY e.finished_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [ages.completedMs, batchSize, TERMINAL_STATES],
    );
  }
  if (ages.idempotencyKeysMs !== undefined) {
    counts.idempotencyKeys = await count(
      tx,
      `UPDATE senpuki_executions SET idempotency_key = NULL WHERE id IN (
         SELECT id FROM senpuki_executions
         WHERE idempotency_key IS NOT NULL AND created_at < now() - $1::bigint * interval '1 millisecond'
           AND state = ANY($3::text[])
         LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [ages.idempotencyKeysMs, batchSize, TERMINAL_STATES],
    );
  }
  counts.cachedResults = await count(
    tx,
    `DELETE FROM senpuki_result_cache WHERE (function_name, args_hash) IN (
       SELECT function_name, args_hash FROM senpuki_result_cache WHERE expires_at <= now() LIMIT $1)`,
    [batchSize],
  );
  return counts;
}

async function count(tx: Queryable, sql: string, params: unknown[]): Promise<number> {
  const { rowCount } = await tx.query(sql, params);
  return rowCount ?? 0;
}
