/**
 * A worker's row in `senpuki_workers` and the session lock that proves its process is alive.
 *
 *   start ─► session open, lock taken, row written ─► beat() every second: last_seen_at = now()
 *                     │ session lost (terminated backend, failover)
 *                     ▼
 *              next beat() opens a session and takes the lock again (same key if free)
 *   stop ─► row deleted, session closed (the lock goes with it)
 *
 * Every failure is thrown to the caller's beat loop, which logs it and tries again next beat: the
 * row going stale while the lock is also gone is what would mark this worker dead.
 */
import type { Db, DbSession } from './db.js';
import {
  WORKER_LOCK_NAMESPACE,
  deleteWorker,
  retakePresenceLock,
  takePresenceLock,
  touchWorker,
  upsertWorker,
  type WorkerLoad,
  type WorkerPresenceRow,
} from './workerQueries.js';

export class WorkerPresence {
  private session: DbSession | undefined;
  private lockKey: number | undefined;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly worker: WorkerPresenceRow,
  ) {}

  /** Takes the lock and writes the row. */
  async start(): Promise<void> {
    await this.ensureLock();
    await upsertWorker(this.db, this.worker, this.lockKey!);
  }

  /** Refreshes the row (writing it again if it was removed), taking the lock again if its session was lost. */
  async beat(load: WorkerLoad): Promise<void> {
    if (this.stopped) return;
    await this.ensureLock();
    // Written again only while running: a beat still in flight when stop() removed the row must not bring it back.
    if (!(await touchWorker(this.db, this.worker.id, load, this.lockKey!)) && !this.stopped) await upsertWorker(this.db, this.worker, this.lockKey!);
  }

  /** Removes the row and lets go of the lock. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await deleteWorker(this.db, this.worker.id);
    } finally {
      if (this.db.kind === 'pglite' && this.lockKey !== undefined) {
        // PGlite's one session outlives this worker: release the lock by hand.
        await this.db.query('SELECT pg_advisory_unlock($1, $2)', [WORKER_LOCK_NAMESPACE, this.lockKey]).catch(() => {});
      }
      await this.session?.close();
      this.session = undefined;
    }
  }

  private async ensureLock(): Promise<void> {
    if (this.session) return;
    // The connection can die (and call back) before openSession returns, or while the lock is
    // taken: the callback only marks it, and a session lost on the way is not kept.
    let lost = false;
    let opened: DbSession | undefined;
    const session = await this.db.openSession(() => {
      lost = true;
      if (opened !== undefined && this.session === opened) this.session = undefined;
    });
    opened = session;
    try {
      if (this.lockKey === undefined || !(await retakePresenceLock(session, this.lockKey))) this.lockKey = await takePresenceLock(session);
      if (lost) throw new Error('the presence connection was lost while taking its lock');
    } catch (error) {
      await session.close();
      throw error;
    }
    if (this.stopped) return void (await session.close());
    this.session = session;
  }
}
