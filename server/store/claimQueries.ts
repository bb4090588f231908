import type { TaskRecord } from '../domain/types.js';
import type { Db, Queryable } from './db.js';
import { prepared } from './prepared.js';
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
 * Takes up to `limit` runnable tasks in priority order, and starts the executions of the root
 * tasks among them, in one statement. SKIP LOCKED lets many workers claim at once without
 * waiting on each other; tasks of executions no longer active are never taken.
 *
 * Every lookup walks an index in order and stops at the first rows it can use (one walk per
 * queue, and per limited function), so a claim costs the same with 10 or 100,000 tasks waiting.
 *
 * Functions with a concurrency limit are claimed in a transaction that first takes an advisory
 * lock per limited function with due work, then counts its running tasks: the count is a fresh
 * read after the previous holder committed, so two workers can never both take the last slot.
 * Claimers of unlimited functions never wait on those locks.
 *
 * `db` is meant to be `Db.genericPlans`: every statement here is prepared, and its generic plan
 * (planned once per connection) is as index-ordered as the plan for any values.
 */
export async function claimTasks(db: Db, options: ClaimOptions): Promise<ClaimedTask[]> {
  const limits = options.limits ?? {};
  const limited = options.functionNames.filter((name) => limits[name] !== undefined);
  const unlimited = options.functionNames.filter((name) => limits[name] === undefined);
  if (limited.length === 0) return claimStatement(db, options, unlimited, [], []);
  return db.transaction(async (tx) => {
    // One index probe per function (a scalar subquery, never turned into a join over every row).
    const { rows: due } = await tx.query<{ name: string }>(
      prepared(`SELECT f.name FROM unnest($1::text[]) AS f(name)
       WHERE (SELECT true FROM senpuki_tasks t
              WHERE t.state = 'pending' AND t.function_name = f.name AND t.scheduled_for <= now()
                AND t.queue = ANY($2::text[]) ORDER BY t.scheduled_for LIMIT 1)`),
      [limited, options.queues],
    );
    const names = due.map((row) => row.name).sort(); // A fixed lock order: no deadlock between claimers.
    for (const name of names) {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('senpuki:limit:' || current_schema() || ':' || $1::text, 0))`, [name]);
    }
    const { rows: running } = await tx.query<{ function_name: string; count: number }>(
      prepared(`SELECT f.name AS function_name,
         (SELECT count(*)::int FROM senpuki_tasks t WHERE t.state = 'running' AND t.function_name = f.name) AS count
       FROM unnest($1::text[]) AS f(name)`),
      [names],
    );
    const busy = new Map(running.map((row) => [row.function_name, row.count]));
    const caps = names.map((name) => Math.max(0, limits[name]! - (busy.get(name) ?? 0)));
    return claimStatement(tx, options, unlimited, names, caps);
  });
}

/** The execution's state, looked up by primary key for each candidate row (a subplan, not a join). */
const EXECUTION_STATE = '(SELECT e.state FROM senpuki_executions e WHERE e.id = t.execution_id)';
const ELIGIBLE = `t.state = 'pending' AND t.scheduled_for <= now()
  AND ($5::text[] IS NULL OR t.tags && $5::text[])
  AND ${EXECUTION_STATE} IN ('pending', 'running')`;
const ORDER = 't.priority DESC, t.scheduled_for, t.id';
const CANDIDATE = `t.id, t.priority, t.scheduled_for, t.execution_id, t.parent_task_id IS NULL AS is_root,
  ${EXECUTION_STATE} AS execution_state`;

/**
 * One statement: the best unlimited candidates of each queue, plus up to `caps[i]` candidates of
 * each limited function, then the best `limit` of them all. Ineligible rows (other queues,
 * functions at their limit, tags that do not match) are filtered out, never waited behind.
 *
 * A root task of a pending execution is taken only together with its execution's row, locked
 * SKIP LOCKED too: cancel and timeout lock the execution and then its tasks, and a claim waiting
 * on an execution row while holding task rows would deadlock with them. A claim never waits on a
 * lock, so a root whose execution is busy is simply left for the next claim.
 */
async function claimStatement(
  db: Queryable,
  options: ClaimOptions,
  unlimited: string[],
  limitedNames: string[],
  caps: number[],
): Promise<ClaimedTask[]> {
  // Only the sources this claim needs: every CTE costs planning time on each claim.
  const params: unknown[] = [options.queues, options.workerId, options.limit, options.leaseMs, options.tags?.length ? options.tags : null];
  const param = (value: unknown) => `$${params.push(value)}`;
  const sources: string[] = [];
  if (unlimited.length > 0) {
    sources.push(`SELECT x.* FROM unnest($1::text[]) AS q(name)
       CROSS JOIN LATERAL (
         SELECT ${CANDIDATE} FROM senpuki_tasks t
         WHERE t.queue = q.name AND ${ELIGIBLE} AND t.function_name = ANY(${param(unlimited)}::text[])
         ORDER BY ${ORDER} LIMIT $3 FOR UPDATE OF t SKIP LOCKED
       ) x`);
  }
  if (caps.some((cap) => cap > 0)) {
    sources.push(`SELECT x.* FROM unnest(${param(limitedNames)}::text[], ${param(caps)}::int[]) AS f(name, cap)
       CROSS JOIN LATERAL (
         SELECT ${CANDIDATE} FROM senpuki_tasks t
         WHERE t.function_name = f.name AND ${ELIGIBLE} AND t.queue = ANY($1::text[])
         ORDER BY ${ORDER} LIMIT f.cap FOR UPDATE OF t SKIP LOCKED
       ) x
       WHERE f.cap > 0`);
  }
  if (sources.length === 0) return [];
  const candidates = sources.map((source, i) => `c${i} AS MATERIALIZED (${source})`).join(', ');
  const union = sources.map((_, i) => `SELECT * FROM c${i}`).join(' UNION ALL ');
  const { rows } = await db.query<TaskRow & { execution_started: boolean }>(
    prepared(`WITH ${candidates}, next AS MATERIALIZED (
       SELECT c.* FROM (${union}) c
       ORDER BY c.priority DESC, c.scheduled_for, c.id LIMIT $3
     ), starting AS MATERIALIZED (
       SELECT e.id FROM senpuki_executions e
       WHERE e.id IN (SELECT n.execution_id FROM next n WHERE n.is_root AND n.execution_state = 'pending')
         AND e.state = 'pending'
       ORDER BY e.id FOR UPDATE OF e SKIP LOCKED
     ), started AS (
       UPDATE senpuki_executions e SET state = 'running', started_at = now()
       FROM starting s WHERE e.id = s.id AND e.state = 'pending'
       RETURNING e.id
     ), claimed AS (
       UPDATE senpuki_tasks t SET state = 'running', lease_owner = $2,
         lease_expires_at = now() + $4::bigint * interval '1 millisecond',
         started_at = coalesce(t.started_at, now()), run_started_at = now()
       FROM next n
       WHERE t.id = n.id
         AND (NOT n.is_root OR n.execution_state <> 'pending' OR n.execution_id IN (SELECT id FROM started))
       RETURNING ${qualify(TASK_COLUMNS, 't')}
     )
     SELECT c.*, (c.parent_task_id IS NULL AND s.id IS NOT NULL) AS execution_started
     FROM claimed c LEFT JOIN started s ON s.id = c.execution_id
     ORDER BY c.priority DESC, c.scheduled_for, c.id`),
    params,
  );
  return rows.map((row) => ({ ...toTask(row), executionStarted: row.execution_started }));
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
 * is announced, and counting them would make an idle worker spin. One ordered index probe per
 * queue and per limited function, each stopping at its first row.
 */
export async function msUntilNextDue(db: Queryable, options: NextDueOptions): Promise<number | undefined> {
  const limited = options.limitedFunctions ?? [];
  const { rows } = await db.query<{ ms: number | null }>(
    `SELECT greatest(0, extract(epoch FROM min(d.due) - now()) * 1000)::float8 AS ms FROM (
       SELECT (SELECT t.scheduled_for FROM senpuki_tasks t
               WHERE t.state = 'pending' AND t.queue = q.name
                 AND t.function_name = ANY($2::text[]) AND t.function_name <> ALL($4::text[])
                 AND ($3::text[] IS NULL OR t.tags && $3::text[])
               ORDER BY t.scheduled_for LIMIT 1) AS due
       FROM unnest($1::text[]) AS q(name)
       UNION ALL
       SELECT (SELECT t.scheduled_for FROM senpuki_tasks t
               WHERE t.state = 'pending' AND t.function_name = f.name AND t.scheduled_for > now()
                 AND t.queue = ANY($1::text[]) AND ($3::text[] IS NULL OR t.tags && $3::text[])
               ORDER BY t.scheduled_for LIMIT 1)
       FROM unnest($4::text[]) AS f(name) WHERE f.name = ANY($2::text[])
     ) d`,
    [options.queues, options.functionNames, options.tags?.length ? options.tags : null, limited],
  );
  return rows[0]?.ms ?? undefined;
}
