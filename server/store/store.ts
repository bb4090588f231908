import type { DeadLetterRecord, ExecutionRecord, TaskRecord } from '../engine/types.js';
import type { Changes } from './changes.js';
import { createPostgresDb, type Db, type PostgresDbOptions } from './db.js';
import { createEmbeddedDb, type EmbeddedDbOptions } from './embeddedDb.js';
import {
  countExecutionRows,
  insertExecution,
  selectExecution,
  selectExecutionPage,
  selectExecutions,
  type ExecutionCursor,
  type ExecutionFilter,
  type NewExecution,
} from './executionQueries.js';
import { reapExpiredLeases, requestCancel, timeOutExpired } from './lifecycleQueries.js';
import { migrate } from './migrate.js';
import { toDeadLetter, type DeadLetterRow } from './rows.js';
import {
  claimTasks,
  completeDueSleep,
  msUntil,
  msUntilNextDue,
  renewLeases,
  selectExecutionTasks,
  selectTask,
  selectTasks,
  settleTask,
  upsertChildren,
  type ClaimOptions,
  type NewChild,
  type TaskOutcome,
} from './taskQueries.js';

export type { Changes } from './changes.js';
export type { ExecutionCursor, ExecutionFilter, NewExecution } from './executionQueries.js';
export type { ClaimOptions, ClaimedTask, NewChild, TaskOutcome } from './taskQueries.js';

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

  createExecution(input: NewExecution) {
    return this.use((db) => insertExecution(db, input));
  }
  getExecution(id: string): Promise<ExecutionRecord | undefined> {
    return this.use((db) => selectExecution(db, id));
  }
  getExecutions(ids: readonly string[]): Promise<ExecutionRecord[]> {
    return this.use((db) => selectExecutions(db, ids));
  }
  listExecutions(filter: ExecutionFilter, limit: number, after?: ExecutionCursor): Promise<ExecutionRecord[]> {
    return this.use((db) => selectExecutionPage(db, filter, limit, after));
  }
  countExecutions(filter: ExecutionFilter): Promise<number> {
    return this.use((db) => countExecutionRows(db, filter));
  }
  cancelExecution(id: string) {
    return this.use((db) => db.transaction((tx) => requestCancel(tx, id)));
  }

  getTask(id: string): Promise<TaskRecord | undefined> {
    return this.use((db) => selectTask(db, id));
  }
  getTasks(ids: readonly string[]): Promise<TaskRecord[]> {
    return this.use((db) => selectTasks(db, ids));
  }
  listTasks(executionId: string): Promise<TaskRecord[]> {
    return this.use((db) => selectExecutionTasks(db, executionId));
  }
  claimTasks(options: ClaimOptions) {
    return this.use((db) => claimTasks(db, options));
  }
  msUntilNextDue(queues: string[]) {
    return this.use((db) => msUntilNextDue(db, queues));
  }
  renewLeases(workerId: string, taskIds: string[], leaseMs: number) {
    return this.use((db) => renewLeases(db, workerId, taskIds, leaseMs));
  }
  settleTask(taskId: string, executionId: string, workerId: string, outcome: TaskOutcome): Promise<Changes | undefined> {
    return this.use((db) => db.transaction((tx) => settleTask(tx, taskId, executionId, workerId, outcome)));
  }
  scheduleChildren(parentTaskId: string, workerId: string, children: NewChild[]) {
    return this.use((db) => db.transaction((tx) => upsertChildren(tx, parentTaskId, workerId, children)));
  }
  completeDueSleep(taskId: string) {
    return this.use((db) => completeDueSleep(db, taskId));
  }
  /** Milliseconds from the database clock's now until `at`. */
  msUntil(at: Date) {
    return this.use((db) => msUntil(db, at));
  }

  timeOutExpired(limit = 100) {
    return this.use((db) => db.transaction((tx) => timeOutExpired(tx, limit)));
  }
  reapExpiredLeases(limit = 100) {
    return this.use((db) => reapExpiredLeases(db, limit));
  }

  listDeadLetters(limit = 50, offset = 0): Promise<DeadLetterRecord[]> {
    return this.use(async (db) => {
      const { rows } = await db.query<DeadLetterRow>(
        `SELECT * FROM senpuki_dead_letters ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2`,
        [limit, offset],
      );
      return rows.map(toDeadLetter);
    });
  }

  close(): Promise<void> {
    return this.db.close();
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
