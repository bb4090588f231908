/**
 * Signal delivery. The invariant: once a transaction commits, an execution never has both a
 * buffered (unconsumed) signal and a waiting wait of the same name. Every operation that could
 * break it (a send, a wait starting, a wait timing out, a replay reviving waits) holds the
 * advisory lock of that (execution, name) and re-reads under it, so "check the buffer" and
 * "start waiting" can never interleave: whichever comes second sees the other and pairs up.
 */
import type { ExecutionState, Json, StoredError, TaskRecord } from '../domain/types.js';
import { noChanges, type Changes } from './changes.js';
import type { Queryable } from './db.js';
import { ACTIVE_EXECUTION_STATES } from './executionQueries.js';
import { TASK_COLUMNS, toTask, type TaskRow } from './rows.js';

export interface NewSignal {
  id: string;
  executionId: string;
  name: string;
  payload: Json;
}

export type SendSignalOutcome =
  | { ok: true; deliveredTo: string | undefined; changes: Changes }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'inactive'; state: ExecutionState };

/** Takes the delivery locks of these signal names, in a fixed order so two takers never deadlock. */
export async function lockSignalNames(tx: Queryable, executionId: string, names: Iterable<string>): Promise<void> {
  for (const name of [...new Set(names)].sort()) {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('senpuki:signal:' || $1::text || ':' || $2::text, 0))`, [
      executionId,
      name,
    ]);
  }
}

/**
 * Buffers a signal and, in the same transaction, hands it to the oldest waiting wait of its name
 * if there is one. Only pending and running executions take signals.
 */
export async function insertSignal(tx: Queryable, signal: NewSignal): Promise<SendSignalOutcome> {
  // FOR SHARE: a finishing execution (which cancels its waits) cannot commit under a send.
  const { rows } = await tx.query<{ state: ExecutionState }>('SELECT state FROM senpuki_executions WHERE id = $1 FOR SHARE', [
    signal.executionId,
  ]);
  if (!rows[0]) return { ok: false, reason: 'not_found' };
  if (!ACTIVE_EXECUTION_STATES.includes(rows[0].state)) return { ok: false, reason: 'inactive', state: rows[0].state };
  await lockSignalNames(tx, signal.executionId, [signal.name]);
  await tx.query(`INSERT INTO senpuki_signals (id, execution_id, name, payload) VALUES ($1, $2, $3, $4)`, [
    signal.id,
    signal.executionId,
    signal.name,
    JSON.stringify(signal.payload),
  ]);
  const changes = await deliverSignals(tx, signal.executionId, [signal.name]);
  return { ok: true, deliveredTo: changes.tasks[0]?.id, changes };
}

/**
 * Pairs buffered signals with waiting waits of the given names, oldest with oldest, until one
 * side runs out. Each pairing completes the wait with the payload as its result, so a replayed
 * orchestrator reads the same payload from the same wait.
 */
export async function deliverSignals(tx: Queryable, executionId: string, names: Iterable<string>): Promise<Changes> {
  const unique = [...new Set(names)].sort();
  await lockSignalNames(tx, executionId, unique);
  const changes = noChanges();
  for (const name of unique) {
    for (;;) {
      const { rows } = await tx.query<{ id: string }>(
        `WITH s AS (
           SELECT id, payload FROM senpuki_signals
           WHERE execution_id = $1 AND name = $2 AND consumed_by IS NULL ORDER BY seq LIMIT 1
         ), w AS (
           SELECT id FROM senpuki_tasks
           WHERE execution_id = $1 AND kind = 'signal' AND function_name = $2 AND state = 'waiting'
           ORDER BY change_seq LIMIT 1
         ), delivered AS (
           UPDATE senpuki_tasks t SET state = 'completed', result = s.payload, finished_at = now()
           FROM s, w WHERE t.id = w.id AND t.state = 'waiting' RETURNING t.id
         ), consumed AS (
           UPDATE senpuki_signals g SET consumed_by = d.id, consumed_at = now()
           FROM s, delivered d WHERE g.id = s.id RETURNING g.id
         )
         SELECT d.id FROM delivered d, consumed`,
        [executionId, name],
      );
      if (!rows[0]) break;
      changes.tasks.push({ id: rows[0].id, state: 'completed', executionId });
    }
  }
  return changes;
}

/**
 * Runs after waits were scheduled, in the scheduling transaction: a wait that finds a buffered
 * signal completes at once. Returns the tasks with the delivered ones re-read.
 */
export async function deliverToScheduledWaits(
  tx: Queryable,
  executionId: string,
  tasks: TaskRecord[],
): Promise<{ tasks: TaskRecord[]; changes: Changes }> {
  const names = tasks.filter((task) => task.kind === 'signal' && task.state === 'waiting').map((task) => task.functionName);
  if (names.length === 0) return { tasks, changes: noChanges() };
  const changes = await deliverSignals(tx, executionId, names);
  if (changes.tasks.length === 0) return { tasks, changes };
  const { rows } = await tx.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM senpuki_tasks WHERE id = ANY($1::uuid[])`, [
    changes.tasks.map((task) => task.id),
  ]);
  const fresh = new Map(rows.map((row) => [row.id, toTask(row)]));
  return { tasks: tasks.map((task) => fresh.get(task.id) ?? task), changes };
}

/** Ends a signal wait whose timeout has passed (by the database clock) unless a signal got there first. */
export async function expireSignalWait(tx: Queryable, taskId: string): Promise<Changes> {
  const { rows: waits } = await tx.query<{ execution_id: string; function_name: string; timeout_ms: string | null }>(
    `SELECT execution_id, function_name, args->>0 AS timeout_ms FROM senpuki_tasks WHERE id = $1 AND kind = 'signal'`,
    [taskId],
  );
  const wait = waits[0];
  const changes = noChanges();
  if (!wait || wait.timeout_ms === null) return changes;
  await lockSignalNames(tx, wait.execution_id, [wait.function_name]);
  const error: StoredError = {
    name: 'SignalTimeoutError',
    message: `No signal "${wait.function_name}" arrived within ${wait.timeout_ms} ms`,
    data: { signal: wait.function_name, timeoutMs: Number(wait.timeout_ms) },
  };
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE senpuki_tasks SET state = 'failed', error = $2, finished_at = now()
     WHERE id = $1 AND state = 'waiting' AND scheduled_for <= now() RETURNING id`,
    [taskId, error],
  );
  if (rows[0]) changes.tasks.push({ id: taskId, state: 'failed', executionId: wait.execution_id });
  return changes;
}

/** Buffered signals of an execution (not yet taken by a wait), oldest first. */
export async function selectBufferedSignals(
  db: Queryable,
  executionId: string,
): Promise<Array<{ id: string; name: string; payload: Json; createdAt: Date }>> {
  const { rows } = await db.query<{ id: string; name: string; payload: Json; created_at: Date }>(
    `SELECT id, name, payload, created_at FROM senpuki_signals
     WHERE execution_id = $1 AND consumed_by IS NULL ORDER BY seq`,
    [executionId],
  );
  return rows.map((row) => ({ id: row.id, name: row.name, payload: row.payload, createdAt: row.created_at }));
}
