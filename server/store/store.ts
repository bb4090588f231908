import type { DeadLetterRecord, ExecutionRecord, Json, TaskRecord, WorkerRecord } from '../domain/types.js';
import { selectCachedResult } from './cacheQueries.js';
import { mergeChanges, type Changes } from './changes.js';
import { claimTasks, msUntilNextDue, type ClaimOptions, type NextDueOptions } from './claimQueries.js';
import { completeTasks } from './completionQueries.js';
import {
  countDeadLetterRows,
  deleteDeadLetter,
  replayDeadLetter,
  selectDeadLetter,
  selectDeadLetterPage,
  type DeadLetterFilter,
} from './deadLetterQueries.js';
import { createPostgresDb, type Db, type PostgresDbOptions } from './db.js';
import { createEmbeddedDb, type EmbeddedDbOptions } from './embeddedDb.js';
import {
  countExecutionRows,
  insertExecution,
  insertExecutions,
  selectExecution,
  selectExecutionPage,
  selectExecutions,
  type DispatchLease,
  type ExecutionCursor,
  type ExecutionFilter,
  type NewExecution,
} from './executionQueries.js';
import { reapExpiredLeases, removeDeadWorkers, requestCancel, settleStalledCancellations, timeOutExpired, type ReapOptions } from './lifecycleQueries.js';
import { WorkerPresence } from './workerPresence.js';
import { selectLiveWorkers, type WorkerPresenceRow } from './workerQueries.js';
import {
  countDueTasksByQueue,
  ping,
  selectExecutionPageExact,
  selectExecutionTasksChangedAfter,
  selectExecutionsChangedAfter,
  selectMaxExecutionChangeSeq,
  selectMaxExecutionTaskChangeSeq,
  type ExactExecutionCursor,
  type ExecutionPageRow,
} from './listingQueries.js';
import { migrate } from './migrate.js';
import { EXECUTION_COLUMNS, TASK_COLUMNS, selectNewerRows, toExecution, toTask, type KnownVersion, type NewerRows } from './rows.js';
import { retryTransient } from './transientErrors.js';
import { updateExecutionProgress, type ProgressPatch } from './progressQueries.js';
import { purgeBatch, type PurgeCounts, type RetentionAges } from './retentionQueries.js';
import { deliverToScheduledWaits, expireSignalWait, insertSignal, selectBufferedSignals, type NewSignal } from './signalQueries.js';
import {
  appendStreamBatch,
  closeStreamRow,
  openStreamRow,
  readStreamAfter,
  selectExecutionStreams,
  selectStreamBatches,
  type StreamBatch,
  type StreamWriterKey,
} from './streamQueries.js';
import {
  completeDueSleep,
  msUntil,
  renewLeases,
  selectExecutionTasks,
  selectTask,
  selectTasks,
  settleTask,
  upsertChildren,
  type NewChild,
  type TaskOutcome,
} from './taskQueries.js';

export type { Changes } from './changes.js';
export type { DispatchLease, ExecutionCursor, ExecutionFilter, NewExecution } from './executionQueries.js';
export type { NewChild, TaskOutcome } from './taskQueries.js';

/** One outcome for `settleTasks`. */
export interface SettleInput {
  taskId: string;
  executionId: string;
  outcome: TaskOutcome;
}
export type { ClaimOptions, ClaimedTask, NextDueOptions } from './claimQueries.js';
export type { DeadLetterFilter, ReplayOutcome } from './deadLetterQueries.js';
export type { ProgressPatch } from './progressQueries.js';
export type { PurgeCounts, RetentionAges } from './retentionQueries.js';
export type { NewSignal, SendSignalOutcome } from './signalQueries.js';
export type { ExactExecutionCursor, ExecutionPageRow } from './listingQueries.js';
export type { ReapOptions } from './lifecycleQueries.js';
export type { StreamBatch, StreamHead, StreamRead, StreamRefusal, StreamWriterKey, StoredStreamBatch } from './streamQueries.js';
export type { WorkerPresence } from './workerPresence.js';
export type { WorkerLoad, WorkerPresenceRow } from './workerQueries.js';

/** Tries of a read before a lost connection is reported to the caller. */
const READ_ATTEMPTS = 3;

/** How often a worker refreshes its row in `senpuki_workers`. */
export const DEFAULT_WORKER_PRESENCE_INTERVAL_MS = 1000;
/** A worker silent this long whose presence lock is free is taken for dead, and its tasks are taken back. */
export const DEFAULT_WORKER_STALE_MS = 3 * DEFAULT_WORKER_PRESENCE_INTERVAL_MS;
/** Times a task may be taken back from a dead worker before the next loss fails it for good. */
export const DEFAULT_MAX_LEASE_LOSSES = 2;

/**
 * Everything the engine reads and writes, on real Postgres or embedded PGlite alike. Migrations
 * run on first use (or explicitly with `initDb()`), once per process, safely across processes.
 */
export class Store {
  private ready: Promise<void> | undefined;

  constructor(readonly db: Db) {}

  /** Real Postgres, shared by any number of processes. */
  static postgres(connectionString: string, options?: PostgresDbOptions): Store {
    return new Store(createPostgresDb(connectionString, options));
  }

  /** Embedded PGlite in a data directory held by this process (or `memory://`). */
  static async embedded(options?: EmbeddedDbOptions): Promise<Store> {
    return new Store(await createEmbeddedDb(options));
  }

  get kind(): Db['kind'] {
    return this.db.kind;
  }

  /** Applies pending migrations; later calls are free. */
  initDb(): Promise<void> {
    this.ready ??= migrate(this.db).then(
      () => {},
      (error) => {
        this.ready = undefined; // Let a later call retry (the database may have been down).
        throw error;
      },
    );
    return this.ready;
  }

  private async use<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    await this.initDb();
    return fn(this.db);
  }

  /**
   * A read, sent again on a fresh connection when the one it used was lost (a terminated backend
   * fails the query in flight; the next connection works). A store that stays down fails after a
   * few quick tries: the caller decides whether to wait longer.
   */
  private read<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    return retryTransient(() => this.use(fn), { maxAttempts: READ_ATTEMPTS });
  }

  /** With a `lease`, the execution starts running with its root task leased to that worker (see `insertExecution`). */
  createExecution(input: NewExecution, lease?: DispatchLease) {
    return this.use((db) => insertExecution(db, input, lease));
  }
  /** Many executions and their root tasks in one statement, results in input order (idempotency keys honoured per item). */
  createExecutions(inputs: NewExecution[]) {
    return this.use((db) => insertExecutions(db, inputs));
  }
  getExecution(id: string): Promise<ExecutionRecord | undefined> {
    return this.read((db) => selectExecution(db, id));
  }
  getExecutions(ids: readonly string[]): Promise<ExecutionRecord[]> {
    return this.read((db) => selectExecutions(db, ids));
  }
  /** Of the executions asked about, those newer than the version held, and the ids gone (a watcher's poll). */
  getNewerExecutions(known: readonly KnownVersion[]): Promise<NewerRows<ExecutionRecord>> {
    return this.read((db) => selectNewerRows(db, 'senpuki_executions', EXECUTION_COLUMNS, toExecution, known));
  }
  listExecutions(filter: ExecutionFilter, limit: number, after?: ExecutionCursor): Promise<ExecutionRecord[]> {
    return this.read((db) => selectExecutionPage(db, filter, limit, after));
  }
  countExecutions(filter: ExecutionFilter): Promise<number> {
    return this.read((db) => countExecutionRows(db, filter));
  }
  cancelExecution(id: string) {
    return this.use((db) => db.transaction((tx) => requestCancel(tx, id)));
  }

  getTask(id: string): Promise<TaskRecord | undefined> {
    return this.read((db) => selectTask(db, id));
  }
  getTasks(ids: readonly string[]): Promise<TaskRecord[]> {
    return this.read((db) => selectTasks(db, ids));
  }
  getNewerTasks(known: readonly KnownVersion[]): Promise<NewerRows<TaskRecord>> {
    return this.read((db) => selectNewerRows(db, 'senpuki_tasks', TASK_COLUMNS, toTask, known));
  }
  listTasks(executionId: string): Promise<TaskRecord[]> {
    return this.read((db) => selectExecutionTasks(db, executionId));
  }
  /** On connections that plan the claim once (see `Db.genericPlans`). */
  claimTasks(options: ClaimOptions) {
    return this.use((db) => claimTasks(db.genericPlans, options));
  }
  msUntilNextDue(options: NextDueOptions) {
    return this.read((db) => msUntilNextDue(db, options));
  }
  renewLeases(workerId: string, taskIds: string[], leaseMs: number) {
    return this.use((db) => renewLeases(db, workerId, taskIds, leaseMs));
  }
  settleTask(taskId: string, executionId: string, workerId: string, outcome: TaskOutcome): Promise<Changes | undefined> {
    return this.use((db) => db.transaction((tx) => settleTask(tx, taskId, executionId, workerId, outcome)));
  }
  /**
   * `settleTask` for many outcomes of one worker, in input order. Plain completions (the common
   * case) are written together in one statement; anything else, and a completion that statement
   * could not write (lease lost, execution no longer active), takes `settleTask`'s transaction.
   * Rejects only when nothing was written; otherwise each outcome has its own result.
   */
  settleTasks(workerId: string, outcomes: SettleInput[]): Promise<Array<PromiseSettledResult<Changes | undefined>>> {
    return this.use(async (db) => {
      const completions = outcomes.flatMap(({ taskId, executionId, outcome }) =>
        outcome.kind === 'completed' && !outcome.cache ? [{ taskId, executionId, result: outcome.result }] : [],
      );
      const written = completions.length > 0 ? await completeTasks(db, workerId, completions) : new Map<string, Changes>();
      return Promise.allSettled(
        outcomes.map(
          ({ taskId, executionId, outcome }) =>
            written.get(taskId) ?? db.transaction((tx) => settleTask(tx, taskId, executionId, workerId, outcome)),
        ),
      );
    });
  }
  /** Upserts an orchestrator's children by call key; signal waits among them take buffered signals in the same transaction. */
  scheduleChildren(parentTaskId: string, workerId: string, children: NewChild[]) {
    return this.use((db) =>
      db.transaction(async (tx) => {
        const outcome = await upsertChildren(tx, parentTaskId, workerId, children);
        if (!outcome.ok || !outcome.tasks.some((task) => task.kind === 'signal')) return outcome;
        const delivered = await deliverToScheduledWaits(tx, outcome.tasks[0]!.executionId, outcome.tasks);
        return { ...outcome, tasks: delivered.tasks, changes: mergeChanges(outcome.changes, delivered.changes) };
      }),
    );
  }
  completeDueSleep(taskId: string) {
    return this.use((db) => completeDueSleep(db, taskId));
  }
  /** Milliseconds from the database clock's now until `at`. */
  msUntil(at: Date) {
    return this.read((db) => msUntil(db, at));
  }

  timeOutExpired(limit = 100) {
    return this.use((db) => db.transaction((tx) => timeOutExpired(tx, limit)));
  }
  /** Takes back tasks of dead workers and of expired leases (see `ReapOptions`). */
  reapExpiredLeases(options: Partial<ReapOptions> = {}) {
    return this.use((db) =>
      reapExpiredLeases(db, { limit: 100, workerStaleMs: DEFAULT_WORKER_STALE_MS, maxLeaseLosses: DEFAULT_MAX_LEASE_LOSSES, ...options }),
    );
  }
  /** Forgets dead workers that hold no task any more. */
  removeDeadWorkers(workerStaleMs = DEFAULT_WORKER_STALE_MS) {
    return this.use((db) => removeDeadWorkers(db, workerStaleMs));
  }
  /** Workers that refreshed their record within `seenWithinMs` (default: the staleness bound), oldest first. */
  listWorkers(seenWithinMs = DEFAULT_WORKER_STALE_MS): Promise<WorkerRecord[]> {
    return this.read((db) => selectLiveWorkers(db, seenWithinMs));
  }
  /** Records a worker and holds the lock that proves it alive; `beat()` it every DEFAULT_WORKER_PRESENCE_INTERVAL_MS. */
  async workerPresence(worker: WorkerPresenceRow): Promise<WorkerPresence> {
    await this.initDb();
    return new WorkerPresence(this.db, worker);
  }
  settleStalledCancellations(limit = 100) {
    return this.use((db) => settleStalledCancellations(db, limit));
  }

  /** Buffers a signal and hands it to the oldest waiting wait of its name, atomically. */
  sendSignal(signal: NewSignal) {
    return this.use((db) => db.transaction((tx) => insertSignal(tx, signal)));
  }
  /** Fails a signal wait whose timeout has passed, unless a signal reached it first. */
  expireSignalWait(taskId: string) {
    return this.use((db) => db.transaction((tx) => expireSignalWait(tx, taskId)));
  }
  /** Signals sent to an execution that no wait has taken yet, oldest first. */
  listBufferedSignals(executionId: string) {
    return this.read((db) => selectBufferedSignals(db, executionId));
  }

  /** Dead letters, newest first. */
  listDeadLetters(limit = 50, offset = 0, filter: DeadLetterFilter = {}): Promise<DeadLetterRecord[]> {
    return this.read((db) => selectDeadLetterPage(db, filter, { limit, offset }));
  }
  countDeadLetters(filter: DeadLetterFilter = {}): Promise<number> {
    return this.read((db) => countDeadLetterRows(db, filter));
  }
  getDeadLetter(id: string): Promise<DeadLetterRecord | undefined> {
    return this.read((db) => selectDeadLetter(db, id));
  }
  discardDeadLetter(id: string): Promise<boolean> {
    return this.use((db) => deleteDeadLetter(db, id));
  }
  replayDeadLetter(id: string) {
    return this.use((db) => db.transaction((tx) => replayDeadLetter(tx, id)));
  }

  /** A function's cached result for these arguments, unless expired. */
  getCachedResult(functionName: string, argsHash: string): Promise<{ result: Json } | undefined> {
    return this.read((db) => selectCachedResult(db, functionName, argsHash));
  }
  /** Writes a running task's progress, counters and custom state onto its execution (fenced by the lease). */
  updateProgress(executionId: string, taskId: string, workerId: string, patch: ProgressPatch): Promise<Changes> {
    return this.use((db) => updateExecutionProgress(db, executionId, taskId, workerId, patch));
  }

  /** Opens a stream for writing (creating it, at most `maxStreams` per execution), fenced by the task's lease. */
  openStream(key: StreamWriterKey, maxStreams: number) {
    return this.use((db) => db.transaction((tx) => openStreamRow(tx, key, maxStreams)));
  }
  /** Appends a batch of chunks right after the stream's last one; undefined when written (also when sent again). */
  appendStreamBatch(key: StreamWriterKey, batch: StreamBatch) {
    return this.use((db) => appendStreamBatch(db, key, batch));
  }
  closeStream(key: StreamWriterKey) {
    return this.use((db) => closeStreamRow(db, key));
  }
  /** Stored batches holding seqs `fromSeq`..`toSeq`, oldest first. */
  streamBatches(executionId: string, name: string, fromSeq: number, toSeq: number, limit: number) {
    return this.read((db) => selectStreamBatches(db, executionId, name, fromSeq, toSeq, limit));
  }
  /** A stream's state and its batches after `afterSeq` (undefined: no such execution). */
  readStream(executionId: string, name: string, afterSeq: number, limit: number) {
    return this.read((db) => readStreamAfter(db, executionId, name, afterSeq, limit));
  }
  listStreams(executionId: string) {
    return this.read((db) => selectExecutionStreams(db, executionId));
  }

  /**
   * Removes expired rows in batches of `batchSize`, at most `maxBatches` per call. `skipped` is
   * true when another worker was running retention (one at a time across all processes).
   */
  purgeExpired(ages: RetentionAges, batchSize = 100, maxBatches = 10): Promise<PurgeCounts & { skipped: boolean }> {
    return this.use(async (db) => {
      const total = { executions: 0, deadLetters: 0, idempotencyKeys: 0, cachedResults: 0, skipped: false };
      for (let batch = 0; batch < maxBatches; batch++) {
        const counts = await db.transaction((tx) => purgeBatch(tx, ages, batchSize));
        if (!counts) return { ...total, skipped: batch === 0 };
        for (const key of ['executions', 'deadLetters', 'idempotencyKeys', 'cachedResults'] as const) total[key] += counts[key];
        if (Object.values(counts).every((n) => n < batchSize)) break;
      }
      return total;
    });
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /** Newest-first page after a microsecond-exact cursor (GraphQL `executions`). */
  pageExecutions(filter: ExecutionFilter, limit: number, after?: ExactExecutionCursor): Promise<ExecutionPageRow[]> {
    return this.read((db) => selectExecutionPageExact(db, filter, limit, after));
  }
  /** Executions matching `filter` written after change sequence `afterSeq`, in write order (list subscriptions). */
  listExecutionsChangedAfter(filter: ExecutionFilter, afterSeq: string, limit: number): Promise<ExecutionRecord[]> {
    return this.read((db) => selectExecutionsChangedAfter(db, filter, afterSeq, limit));
  }
  /** Tasks of one execution written after change sequence `afterSeq`, in write order (its task list subscription). */
  listExecutionTasksChangedAfter(executionId: string, afterSeq: string, limit: number): Promise<TaskRecord[]> {
    return this.read((db) => selectExecutionTasksChangedAfter(db, executionId, afterSeq, limit));
  }
  /** Change sequence of the latest execution write. */
  maxExecutionChangeSeq(): Promise<string> {
    return this.read((db) => selectMaxExecutionChangeSeq(db));
  }
  /** Change sequence of the latest write to one execution's tasks. */
  maxExecutionTaskChangeSeq(executionId: string): Promise<string> {
    return this.read((db) => selectMaxExecutionTaskChangeSeq(db, executionId));
  }
  /** Due pending tasks per queue, each count stopping at `cap` (a bounded walk of the claim index). */
  countDueTasksByQueue(queues: string[], cap: number): Promise<Map<string, number>> {
    return this.read((db) => countDueTasksByQueue(db, queues, cap));
  }
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void> {
    return ping(this.db);
  }
}

export interface StoreConfig {
  /** A postgres:// URL; without one, the embedded store is used. */
  databaseUrl?: string;
  /** Data directory of the embedded store (default `.senpuki/data`; `memory://` for none). */
  dataDir?: string;
}

/** Postgres when a URL is given, the embedded PGlite store otherwise. */
export async function openStore(config: StoreConfig = {}): Promise<Store> {
  const store = config.databaseUrl ? Store.postgres(config.databaseUrl) : await Store.embedded({ dataDir: config.dataDir });
  await store.initDb();
  return store;
}
