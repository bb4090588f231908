import type { ExecutionState, Json, StreamInfo } from '../domain/types.js';
import type { Queryable } from './db.js';

/**
 * Whether nothing more can be written to a stream: closed by its writer, or its task or its
 * execution is finished (a cancelling execution takes no writes either). Writes lock the task and
 * execution rows they are fenced by, so a snapshot that finds a stream closed holds all its chunks.
 */
const CLOSED_SQL = `(coalesce(s.closed_at IS NOT NULL, false) OR coalesce(t.state IN ('completed', 'failed', 'cancelled'), false)
  OR e.state NOT IN ('pending', 'running'))`;

/**
 * Only the worker holding a running task's lease may write its streams, and only while the
 * execution is active. Locking both rows (shared) orders the write with a cancel, a settle or a
 * lease take-over: whichever commits first, the other sees it.
 */
const fenceSql = (execution: string, task: string, worker: string) => `SELECT t.id FROM senpuki_tasks t JOIN senpuki_executions e ON e.id = t.execution_id
  WHERE t.id = ${task} AND t.lease_owner = ${worker} AND t.state = 'running' AND e.id = ${execution} AND e.state IN ('pending', 'running')
  FOR SHARE OF e, t`;
/** The fence in statements whose parameters start `$1` execution, `$2` name, `$3` task, `$4` worker. */
const FENCE_SQL = fenceSql('$1', '$3', '$4');

/** Who may write: the stream, its task and the worker holding it. */
export interface StreamWriterKey {
  executionId: string;
  name: string;
  taskId: string;
  workerId: string;
}

/** The writer's view of a stream when it opens it. */
export interface StreamHead {
  taskId: string;
  length: number;
  run: number;
  runStart: number;
  closed: boolean;
}

/** Why a stream write was not made. */
export type StreamRefusal = 'lease_lost' | 'inactive' | 'closed' | 'conflict';

/** Creates the stream unless it exists (at most `maxStreams` per execution) and returns it, fenced by the lease. */
export async function openStreamRow(
  tx: Queryable,
  key: StreamWriterKey,
  maxStreams: number,
): Promise<{ ok: true; head: StreamHead } | { ok: false; reason: StreamRefusal | 'limit' }> {
  const { rows: fence } = await tx.query(fenceSql('$1', '$2', '$3'), [key.executionId, key.taskId, key.workerId]);
  if (fence.length === 0) return { ok: false, reason: (await diagnose(tx, key)) ?? 'lease_lost' };
  await tx.query(
    `INSERT INTO senpuki_streams (execution_id, name, task_id)
     SELECT $1, $2, $3 WHERE (SELECT count(*) FROM senpuki_streams WHERE execution_id = $1) < $4
     ON CONFLICT (execution_id, name) DO NOTHING`,
    [key.executionId, key.name, key.taskId, maxStreams],
  );
  const { rows } = await tx.query<{ task_id: string; length: number; run: number; run_start: number; closed: boolean }>(
    `SELECT task_id, length, run, run_start, closed_at IS NOT NULL AS closed FROM senpuki_streams WHERE execution_id = $1 AND name = $2`,
    [key.executionId, key.name],
  );
  const row = rows[0];
  if (!row) return { ok: false, reason: 'limit' };
  return { ok: true, head: { taskId: row.task_id, length: row.length, run: row.run, runStart: row.run_start, closed: row.closed } };
}

/** A batch of chunks as one writer commits it: seqs `firstSeq`..`lastSeq`, all of run `run`. */
export interface StreamBatch {
  firstSeq: number;
  lastSeq: number;
  run: number;
  /** seq of the first chunk of run `run` (the stream's current run once this batch is in). */
  runStart: number;
  /** The chunks as one JSON array text, and its size in bytes. */
  chunksJson: string;
  bytes: number;
}

/**
 * Appends a batch right after the stream's last chunk, in one statement (fenced, and only if the
 * stream is still `firstSeq - 1` long and open). A batch sent again after a lost reply finds
 * itself written and counts as done, so callers may retry.
 */
export async function appendStreamBatch(db: Queryable, key: StreamWriterKey, batch: StreamBatch): Promise<StreamRefusal | undefined> {
  const { rows } = await db.query(
    `WITH fence AS (${FENCE_SQL}), grown AS (
       UPDATE senpuki_streams s SET length = $6::int, run = $7::int, run_start = $8::int FROM fence
       WHERE s.execution_id = $1 AND s.name = $2 AND s.task_id = fence.id AND s.length = $5::int - 1 AND s.closed_at IS NULL
       RETURNING s.length
     )
     INSERT INTO senpuki_stream_chunks (execution_id, name, first_seq, last_seq, run, bytes, chunks)
     SELECT $1, $2, $5::int, $6::int, $7::int, $9::int, $10::jsonb FROM grown
     RETURNING last_seq`,
    [key.executionId, key.name, key.taskId, key.workerId, batch.firstSeq, batch.lastSeq, batch.run, batch.runStart, batch.bytes, batch.chunksJson],
  );
  if (rows.length > 0) return undefined;
  const { rows: written } = await db.query(
    `SELECT 1 FROM senpuki_stream_chunks WHERE execution_id = $1 AND name = $2 AND first_seq = $3 AND last_seq = $4`,
    [key.executionId, key.name, batch.firstSeq, batch.lastSeq],
  );
  if (written.length > 0) return undefined;
  return (await diagnose(db, key)) ?? 'conflict';
}

/** Marks the stream closed (fenced); closing a closed stream changes nothing. */
export async function closeStreamRow(db: Queryable, key: StreamWriterKey): Promise<StreamRefusal | undefined> {
  const { rows } = await db.query(
    `WITH fence AS (${FENCE_SQL})
     UPDATE senpuki_streams s SET closed_at = now() FROM fence
     WHERE s.execution_id = $1 AND s.name = $2 AND s.task_id = fence.id AND s.closed_at IS NULL
     RETURNING s.length`,
    [key.executionId, key.name, key.taskId, key.workerId],
  );
  if (rows.length > 0) return undefined;
  const reason = await diagnose(db, key);
  return reason === 'closed' ? undefined : (reason ?? 'conflict');
}

/** Why a fenced write found nothing to write (undefined: it could have been written). */
async function diagnose(db: Queryable, key: StreamWriterKey): Promise<StreamRefusal | undefined> {
  const { rows } = await db.query<{ leased: boolean | null; execution_state: ExecutionState; closed: boolean | null }>(
    `SELECT (t.lease_owner = $4 AND t.state = 'running') AS leased, e.state AS execution_state, s.closed_at IS NOT NULL AS closed
     FROM senpuki_executions e
     LEFT JOIN senpuki_tasks t ON t.id = $3 AND t.execution_id = e.id
     LEFT JOIN senpuki_streams s ON s.execution_id = e.id AND s.name = $2
     WHERE e.id = $1`,
    [key.executionId, key.name, key.taskId, key.workerId],
  );
  const row = rows[0];
  if (!row || (row.execution_state !== 'pending' && row.execution_state !== 'running')) return 'inactive';
  if (!row.leased) return 'lease_lost';
  if (row.closed) return 'closed';
  return undefined;
}

/** A stored batch, its chunks parsed. */
export interface StoredStreamBatch {
  firstSeq: number;
  lastSeq: number;
  run: number;
  bytes: number;
  chunks: Json[];
}

interface BatchRow {
  first_seq: number;
  last_seq: number;
  run: number;
  bytes: number;
  chunks: Json[];
}

const toBatch = (row: BatchRow): StoredStreamBatch => ({ firstSeq: row.first_seq, lastSeq: row.last_seq, run: row.run, bytes: row.bytes, chunks: row.chunks });

/** Batches holding seqs `fromSeq`..`toSeq`, oldest first, at most `limit` (a re-run compares its writes with them). */
export async function selectStreamBatches(db: Queryable, executionId: string, name: string, fromSeq: number, toSeq: number, limit: number): Promise<StoredStreamBatch[]> {
  const { rows } = await db.query<BatchRow>(
    `SELECT first_seq, last_seq, run, bytes, chunks FROM senpuki_stream_chunks
     WHERE execution_id = $1 AND name = $2 AND last_seq >= $3 AND first_seq <= $4 ORDER BY last_seq LIMIT $5`,
    [executionId, name, fromSeq, toSeq, limit],
  );
  return rows.map(toBatch);
}

/** What a reader learns in one read: the stream's state and the batches after its position. */
export interface StreamRead {
  /** False while no task has opened the stream yet. */
  exists: boolean;
  length: number;
  closed: boolean;
  /** Batches ending after `afterSeq`, oldest first; a full page (`limit`) means more may follow. */
  batches: StoredStreamBatch[];
}

/**
 * The stream's state and its batches after `afterSeq`, in one statement (one snapshot: when it
 * says closed, every chunk is among what it returns or later pages). Undefined when there is no
 * such execution.
 */
export async function readStreamAfter(db: Queryable, executionId: string, name: string, afterSeq: number, limit: number): Promise<StreamRead | undefined> {
  const { rows } = await db.query<{ exists: boolean; length: number | null; closed: boolean } & { [K in keyof BatchRow]: BatchRow[K] | null }>(
    `SELECT s.name IS NOT NULL AS exists, s.length, ${CLOSED_SQL} AS closed, c.first_seq, c.last_seq, c.run, c.bytes, c.chunks
     FROM senpuki_executions e
     LEFT JOIN senpuki_streams s ON s.execution_id = e.id AND s.name = $2
     LEFT JOIN senpuki_tasks t ON t.id = s.task_id
     LEFT JOIN LATERAL (
       SELECT first_seq, last_seq, run, bytes, chunks FROM senpuki_stream_chunks c
       WHERE c.execution_id = e.id AND c.name = $2 AND c.last_seq > $3 ORDER BY c.last_seq LIMIT $4
     ) c ON true
     WHERE e.id = $1
     ORDER BY c.last_seq`,
    [executionId, name, afterSeq, limit],
  );
  const first = rows[0];
  if (!first) return undefined;
  return {
    exists: first.exists,
    length: first.length ?? 0,
    closed: first.closed,
    batches: rows.filter((row) => row.last_seq !== null).map((row) => toBatch(row as BatchRow)),
  };
}

/** Every stream of an execution, oldest first. */
export async function selectExecutionStreams(db: Queryable, executionId: string): Promise<StreamInfo[]> {
  const { rows } = await db.query<{ name: string; task_id: string; length: number; run: number; closed: boolean; created_at: Date }>(
    `SELECT s.name, s.task_id, s.length, s.run, ${CLOSED_SQL} AS closed, s.created_at
     FROM senpuki_streams s JOIN senpuki_executions e ON e.id = s.execution_id
     LEFT JOIN senpuki_tasks t ON t.id = s.task_id
     WHERE s.execution_id = $1 ORDER BY s.created_at, s.name`,
    [executionId],
  );
  return rows.map((row) => ({
    executionId,
    name: row.name,
    taskId: row.task_id,
    length: row.length,
    run: row.run,
    closed: row.closed,
    createdAt: row.created_at,
  }));
}
