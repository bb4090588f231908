import type {
  DeadLetterRecord,
  ExecutionRecord,
  ExecutionState,
  Json,
  Progress,
  StoredError,
  TaskKind,
  TaskRecord,
  TaskRunOutcomeName,
  TaskState,
} from '../domain/types.js';
import type { Queryable } from './db.js';
import { prepared } from './prepared.js';

/** Column lists shared by every query that returns whole rows (change_seq as text: it is a bigint). */
export const EXECUTION_COLUMNS = `id, function_name, args, state, result, error, queue, tags, priority,
  idempotency_key, root_task_id, progress, custom_state, counters, created_at, started_at, finished_at,
  deadline_at, version, change_seq::text AS change_seq`;

export const TASK_COLUMNS = `id, execution_id, parent_task_id, call_key, parent_attempt, kind, function_name,
  args, state, result, error, attempt, max_attempts, queue, tags, priority, scheduled_for, lease_owner,
  lease_expires_at, created_at, started_at, finished_at, version, change_seq::text AS change_seq, runs, trace_context`;

/**
 * The SET clause that records the run ending now in `runs` (see migration 013). In an UPDATE the
 * columns it reads are the row before the write: the run's attempt, start and worker. `error` is
 * SQL for the run's error (`{ name, message }` only; the stack stays in `error`).
 */
export function appendRun(outcome: TaskRunOutcomeName, error = 'NULL'): string {
  return `runs = senpuki_append_run(runs, jsonb_strip_nulls(jsonb_build_object('attempt', attempt, 'startedAt', run_started_at,
    'finishedAt', now(), 'outcome', '${outcome}', 'worker', lease_owner, 'error', ${error})))`;
}

/** SQL for the `{ name, message }` of a stored error held in `expression`. */
export const runError = (expression: string): string => `jsonb_build_object('name', (${expression})->>'name', 'message', (${expression})->>'message')`;

/** Prefixes every column of a list with a table alias (for joins and UPDATE ... FROM). */
export const qualify = (columns: string, alias: string): string =>
  columns.replace(/(^|,\s*)([a-z_]+)/g, `$1${alias}.$2`);

/** A column list with every output name prefixed (two tables' columns side by side in one row). */
export const aliased = (columns: string, prefix: string): string =>
  columns
    .split(',')
    .map((column) => {
      const [expression, name] = column.trim().split(/\s+AS\s+/);
      return `${expression} AS ${prefix}${name ?? expression}`;
    })
    .join(', ');

/** The columns of `row` named with `prefix`, without it. */
export function unprefixed<T>(row: Record<string, unknown>, prefix: string): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) if (name.startsWith(prefix)) out[name.slice(prefix.length)] = value;
  return out as T;
}

export interface ExecutionRow {
  id: string;
  function_name: string;
  args: Json[];
  state: ExecutionState;
  result: Json | null;
  error: StoredError | null;
  queue: string;
  tags: string[];
  priority: number;
  idempotency_key: string | null;
  root_task_id: string;
  progress: Progress | null;
  custom_state: Json | null;
  counters: Record<string, number>;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  deadline_at: Date | null;
  version: number;
  change_seq: string;
}

export interface TaskRow {
  id: string;
  execution_id: string;
  parent_task_id: string | null;
  call_key: string | null;
  parent_attempt: number;
  kind: TaskKind;
  function_name: string;
  args: Json[];
  state: TaskState;
  result: Json | null;
  error: StoredError | null;
  attempt: number;
  max_attempts: number;
  queue: string;
  tags: string[];
  priority: number;
  scheduled_for: Date;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  version: number;
  change_seq: string;
  runs: RawTaskRun[];
  trace_context: Record<string, string> | null;
}

/** A run as `senpuki_append_run` stores it (timestamps as JSON text). */
interface RawTaskRun {
  attempt: number;
  startedAt?: string;
  finishedAt: string;
  outcome: TaskRunOutcomeName;
  worker?: string;
  error?: { name: string; message: string };
}

export interface DeadLetterRow {
  id: string;
  task_id: string;
  execution_id: string;
  function_name: string;
  args: Json[];
  error: StoredError;
  attempts: number;
  created_at: Date;
}

const orUndefined = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

export function toExecution(row: ExecutionRow): ExecutionRecord {
  return {
    id: row.id,
    functionName: row.function_name,
    args: row.args,
    state: row.state,
    result: orUndefined(row.result),
    error: orUndefined(row.error),
    queue: row.queue,
    tags: row.tags,
    priority: row.priority,
    idempotencyKey: orUndefined(row.idempotency_key),
    rootTaskId: row.root_task_id,
    progress: orUndefined(row.progress),
    customState: orUndefined(row.custom_state),
    counters: row.counters,
    createdAt: row.created_at,
    startedAt: orUndefined(row.started_at),
    finishedAt: orUndefined(row.finished_at),
    deadlineAt: orUndefined(row.deadline_at),
    version: row.version,
    changeSeq: row.change_seq,
  };
}

export function toTask(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    executionId: row.execution_id,
    parentTaskId: orUndefined(row.parent_task_id),
    callKey: orUndefined(row.call_key),
    parentAttempt: row.parent_attempt,
    kind: row.kind,
    functionName: row.function_name,
    args: row.args,
    state: row.state,
    result: orUndefined(row.result),
    error: orUndefined(row.error),
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    queue: row.queue,
    tags: row.tags,
    priority: row.priority,
    scheduledFor: row.scheduled_for,
    leaseOwner: orUndefined(row.lease_owner),
    leaseExpiresAt: orUndefined(row.lease_expires_at),
    createdAt: row.created_at,
    startedAt: orUndefined(row.started_at),
    finishedAt: orUndefined(row.finished_at),
    version: row.version,
    changeSeq: row.change_seq,
    runs: (row.runs ?? []).map((run) => ({
      attempt: run.attempt,
      startedAt: run.startedAt === undefined ? undefined : new Date(run.startedAt),
      finishedAt: new Date(run.finishedAt),
      outcome: run.outcome,
      worker: run.worker,
      error: run.error,
    })),
    traceContext: orUndefined(row.trace_context),
  };
}

export function toDeadLetter(row: DeadLetterRow): DeadLetterRecord {
  return {
    id: row.id,
    taskId: row.task_id,
    executionId: row.execution_id,
    functionName: row.function_name,
    args: row.args,
    error: row.error,
    attempts: row.attempts,
    createdAt: row.created_at,
  };
}

/** A watched row and the version its watcher holds. */
export interface KnownVersion {
  id: string;
  version: number;
}

/** Of the rows asked about: those at a newer version than the one held, and the ids no longer there. */
export interface NewerRows<T> {
  newer: T[];
  missing: string[];
}

/**
 * The rows of `table` newer than the versions held, and the ids that are gone, in one statement
 * that returns nothing when nothing changed: what a watcher's poll asks, so ten thousand watched
 * rows cost one index probe each per poll instead of ten thousand rows read and decoded.
 */
export async function selectNewerRows<R extends { id: string | null }, T>(
  db: Queryable,
  table: 'senpuki_executions' | 'senpuki_tasks',
  columns: string,
  toRecord: (row: R) => T,
  known: readonly KnownVersion[],
): Promise<NewerRows<T>> {
  const { rows } = await db.query<R & { watched_id: string }>(
    prepared(
      `SELECT watched_id, ${columns}
       FROM unnest(string_to_array($1, ',')::uuid[], string_to_array($2, ',')::int[]) AS watched(watched_id, known_version)
       LEFT JOIN ${table} ON id = watched_id
       WHERE id IS NULL OR version > known_version`,
    ),
    [joined(known, 'id'), joined(known, 'version')],
  );
  const result: NewerRows<T> = { newer: [], missing: [] };
  for (const row of rows) {
    if (row.id === null) result.missing.push(row.watched_id);
    else result.newer.push(toRecord(row));
  }
  return result;
}

/** One field of every row, comma-separated: a parameter that costs one string, where an array costs one per element. */
function joined(rows: readonly KnownVersion[], field: 'id' | 'version'): string {
  let text = '';
  for (let i = 0; i < rows.length; i++) text += i === 0 ? String(rows[i]![field]) : `,${rows[i]![field]}`;
  return text;
}
