import type { TaskRecord } from '../engine/types.js';
import type { Db, Queryable } from './db.js';
import { TASK_COLUMNS, qualify, toTask, type TaskRow } from './rows.js';

export interface ClaimOptions {
  workerId: string;
  queues: string[];
  /** When set, only tasks sharing at least one of these tags are claimed. */
  tags?: string[];
  /** Only functions this worker can run. */
  functionNames: string[];
  /** `maxConcurrent` of the functions that have one: running tasks of each never exceed it, across all workers. */
  limits?: Record<string, number>;
  limit: number;
  leaseMs: number;
}

export interface ClaimedTask extends TaskRecord {
  /** True when this claim moved the execution from pending to running. */
  executionStarted: boolean;
}

/**
 * Takes up to `limit` runnable tasks in priority order. SKIP LOCKED lets many workers claim at
 * once without waiting on each other; tasks of executions no longer active are never taken.
 *
 * Functions with a concurrency limit are claimed in a transaction that first takes an advisory
 * lock per limited function with due work, then counts its running tasks: the count is a fresh
 * read after the previous holder committed, so two workers can never both take the last slot.
 * Claimers of unlimited functions never wait on those locks.
 */
export async function claimTasks(db: Db, options: ClaimOptions): Promise<ClaimedTask[]> {
  const limits = options.limits ?? {};
  const limited = options.functionNames.filter((name) => limits[name] !== undefined);
  const unlimited = options.functionNames.filter((name) => limits[name] === undefined);
  if (limited.length === 0) return markExecutionsStarted(db, await claimStatement(db, options, unlimited, [], []));
  const claimed = await db.transaction(async (tx) => {
    const { rows: due } = await tx.query<{ function_name: string }>(
      `SELECT DISTINCT function_name FROM senpuki_tasks
       WHERE state = 'pending' AND scheduled_for <= now() AND function_name = ANY($1::text[]) AND queue = ANY($2::text[])`,
      [limited, options.queues],
    );
    const names = due.map((row) => row.function_name).sort(); // A fixed lock order: no deadlock between claimers.
    for (const name of names) {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('senpuki:limit:' || current_schema() || ':' || $1::text, 0))`, [name]);
    }
    const { rows: running } = await tx.query<{ function_name: string; count: number }>(
      `SELECT function_name, count(*)::int AS count FROM senpuki_tasks
       WHERE state = 'running' AND function_name = ANY($1::text[]) GROUP BY function_name`,
      [names],
    );
    const busy = new Map(running.map((row) => [row.function_name, row.count]));
    const caps = names.map((name) => Math.max(0, limits[name]! - (busy.get(name) ?? 0)));
    return claimStatement(tx, options, unlimited, names, caps);
  });
  return markExecutionsStarted(db, claimed);
}

const ELIGIBLE = `t.state = 'pending' AND t.scheduled_for <= now() AND t.queue = ANY($1::text[])
  AND ($5::text[] IS NULL OR t.tags && $5::text[])
  AND EXISTS (SELECT 1 FROM senpuki_executions e WHERE e.id = t.execution_id AND e.state IN ('pending', 'running'))`;
const ORDER = 't.priority DESC, t.scheduled_for, t.id';

/**
 * One statement: the best unlimited candidates, plus up to `caps[i]` candidates of each limited
 * function, then the best `limit` of them all. Ineligible rows (other queues, functions at their
 * limit, tags that do not match) are filtered out, never waited behind.
 */
async function claimStatement(
  db: Queryable,
  options: ClaimOptions,
  unlimited: string[],
  limitedNames: string[],
  caps: number[],
): Promise<TaskRecord[]> {
  const { rows } = await db.query<TaskRow>(
    `WITH free AS (
       SELECT t.id, t.priority, t.scheduled_for FROM senpuki_tasks t
       WHERE ${ELIGIBLE} AND t.function_name = ANY($6::text[])
       ORDER BY ${ORDER} LIMIT $3 FOR UPDATE OF t SKIP LOCKED
     ), capped AS (
       SELECT x.id, x.priority, x.scheduled_for FROM unnest($7::text[], $8::int[]) AS f(name, cap)
       CROSS JOIN LATERAL (
         SELECT t.id, t.priority, t.scheduled_for FROM senpuki_tasks t
         WHERE ${ELIGIBLE} AND t.function_name = f.name
         ORDER BY ${ORDER} LIMIT f.cap FOR UPDATE OF t SKIP LOCKED
       ) x
       WHERE f.cap > 0
     ), next AS (
       SELECT c.id FROM (SELECT * FROM free UNION ALL SELECT * FROM capped) c
       ORDER BY c.priority DESC, c.scheduled_for, c.id LIMIT $3
     ), claimed AS (
       UPDATE senpuki_tasks t SET state = 'running', lease_owner = $2,
         lease_expires_at = now() + $4::bigint * interval '1 millisecond',
         started_at = coalesce(t.started_at, now())
       FROM next WHERE t.id = next.id
       RETURNING ${qualify(TASK_COLUMNS, 't')}
     )
     SELECT c.* FROM claimed c ORDER BY c.priority DESC, c.scheduled_for`,
    [
      options.queues,
      options.workerId,
      options.limit,
      options.leaseMs,
      options.tags?.length ? options.tags : null,
      unlimited,
      limitedNames,
      caps,
    ],
  );
  return rows.map(toTask);
}

/**
 * Moves the executions of claimed root tasks from pending to running, in a statement of its own:
 * done inside the claim, it would lock task rows before execution rows, the reverse of cancel and
 * timeout (which lock the execution, then its tasks), and the two would deadlock.
 */
async function markExecutionsStarted(db: Queryable, claimed: TaskRecord[]): Promise<ClaimedTask[]> {
  const roots = claimed.filter((task) => !task.parentTaskId).map((task) => task.executionId);
  const started = new Set<string>();
  if (roots.length > 0) {
    const { rows } = await db.query<{ id: string }>(
      `UPDATE senpuki_executions SET state = 'running', started_at = now()
       WHERE id = ANY($1::uuid[]) AND state = 'pending' RETURNING id`,
      [roots],
    );
    for (const row of rows) started.add(row.id);
  }
  return claimed.map((task) => ({ ...task, executionStarted: !task.parentTaskId && started.has(task.executionId) }));
}

export interface NextDueOptions {
  queues: string[];
  functionNames: string[];
  tags?: string[];
  /** Functions with a concurrency limit: their due rows may be unclaimable, so only their future rows count. */
  limitedFunctions?: string[];
}

/**
 * Milliseconds until the next pending task this worker could claim is due (undefined when there
 * is none). Rows that are due but blocked by a concurrency limit are left out: a slot freeing up
 * is announced, and counting them would make an idle worker spin.
 */
export async function msUntilNextDue(db: Queryable, options: NextDueOptions): Promise<number | undefined> {
  const { rows } = await db.query<{ ms: number | null }>(
    `SELECT greatest(0, extract(epoch FROM min(scheduled_for) - now()) * 1000)::float8 AS ms
     FROM senpuki_tasks
     WHERE state = 'pending' AND queue = ANY($1::text[]) AND function_name = ANY($2::text[])
       AND ($3::text[] IS NULL OR tags && $3::text[])
       AND (function_name <> ALL($4::text[]) OR scheduled_for > now())`,
    [options.queues, options.functionNames, options.tags?.length ? options.tags : null, options.limitedFunctions ?? []],
  );
  return rows[0]?.ms ?? undefined;
}
