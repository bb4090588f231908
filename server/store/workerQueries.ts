import type { WorkerRecord } from '../domain/types.js';
import type { Queryable } from './db.js';

/**
 * The first key of every worker's presence lock (`pg_advisory_lock(namespace, lock_key)`), so
 * those locks never meet another application's: the two-key form shows in pg_locks as
 * classid/objid with objsubid 2, apart from the single-key locks used elsewhere.
 */
export const WORKER_LOCK_NAMESPACE = 0x53504b57; // "SPKW"

export interface WorkerPresenceRow {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  tags: string[] | undefined;
  concurrency: number;
  /** Functions registered in the worker's process. */
  functions: string[];
}

/** How busy a worker is and what it runs now, refreshed with its presence. */
export interface WorkerLoad {
  /** Tasks holding a slot. */
  running: number;
  /** Orchestrators waiting in memory, holding no slot. */
  suspended: number;
  /** Functions registered now (more may be registered after the worker starts). */
  functions: string[];
}

/** Takes a presence lock with a random key on `session`; returns the key. */
export async function takePresenceLock(session: Queryable): Promise<number> {
  for (;;) {
    const key = 1 + Math.floor(Math.random() * 0x7ffffffe);
    const { rows } = await session.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [WORKER_LOCK_NAMESPACE, key]);
    if (rows[0]?.locked) return key;
    // Another live worker drew the same key: draw again.
  }
}

/** Takes the presence lock `key` again (after its connection was lost); false when someone else holds it. */
export async function retakePresenceLock(session: Queryable, key: number): Promise<boolean> {
  const { rows } = await session.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [WORKER_LOCK_NAMESPACE, key]);
  return rows[0]?.locked === true;
}

export async function upsertWorker(db: Queryable, worker: WorkerPresenceRow, lockKey: number): Promise<void> {
  await db.query(
    `INSERT INTO senpuki_workers (id, host, pid, queues, tags, concurrency, functions, lock_key)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (id) DO UPDATE SET lock_key = EXCLUDED.lock_key, functions = EXCLUDED.functions, last_seen_at = now()`,
    [worker.id, worker.host, worker.pid, worker.queues, worker.tags ?? null, worker.concurrency, worker.functions, lockKey],
  );
}

/** Refreshes a worker's `last_seen_at` and load; false when its row is gone (it was taken for dead). */
export async function touchWorker(db: Queryable, id: string, load: WorkerLoad, lockKey: number): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE senpuki_workers SET last_seen_at = now(), running = $2, suspended = $3, functions = $4, lock_key = $5 WHERE id = $1',
    [id, load.running, load.suspended, load.functions, lockKey],
  );
  return (rowCount ?? 0) > 0;
}

interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  tags: string[] | null;
  functions: string[];
  concurrency: number;
  running: number;
  suspended: number;
  started_at: Date;
  last_seen_at: Date;
}

/** Workers seen within `seenWithinMs`, oldest first. */
export async function selectLiveWorkers(db: Queryable, seenWithinMs: number): Promise<WorkerRecord[]> {
  const { rows } = await db.query<WorkerRow>(
    `SELECT id, host, pid, queues, tags, functions, concurrency, running, suspended, started_at, last_seen_at
     FROM senpuki_workers WHERE last_seen_at >= now() - $1::bigint * interval '1 millisecond'
     ORDER BY started_at, id`,
    [seenWithinMs],
  );
  return rows.map((row) => ({
    id: row.id,
    host: row.host,
    pid: row.pid,
    queues: row.queues,
    tags: row.tags ?? undefined,
    functions: row.functions,
    concurrency: row.concurrency,
    running: row.running,
    suspended: row.suspended,
    startedAt: row.started_at,
    lastSeenAt: row.last_seen_at,
  }));
}

export async function deleteWorker(db: Queryable, id: string): Promise<void> {
  await db.query('DELETE FROM senpuki_workers WHERE id = $1', [id]);
}

/**
 * The SQL condition "worker `w` is dead": not seen for `$staleMs` and its presence lock is free,
 * i.e. the connection that held it has closed. (A stalled but living process keeps its lock.)
 */
export const DEAD_WORKER = (alias: string, staleMsParam: string) => `${alias}.last_seen_at < now() - ${staleMsParam}::bigint * interval '1 millisecond'
  AND NOT EXISTS (SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
      AND l.classid = ${WORKER_LOCK_NAMESPACE}::oid AND l.objid = ${alias}.lock_key::oid
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`;
