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
    `INSERT INTO senpuki_workers (id, host, pid, queues, tags, concurrency, lock_key)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (id) DO UPDATE SET lock_key = EXCLUDED.lock_key, last_seen_at = now()`,
    [worker.id, worker.host, worker.pid, worker.queues, worker.tags ?? null, worker.concurrency, lockKey],
  );
}

/** Refreshes a worker's `last_seen_at`; false when its row is gone (it was taken for dead). */
export async function touchWorker(db: Queryable, id: string, running: number, lockKey: number): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE senpuki_workers SET last_seen_at = now(), running = $2, lock_key = $3 WHERE id = $1',
    [id, running, lockKey],
  );
  return (rowCount ?? 0) > 0;
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
