import type { Execution, Task, TaskState } from './types.js';

/**
 * How often `taskListUpdates` re-reads the task list while the execution runs. The API has no
 * per-execution task feed yet, so task changes are polled (one query per tick, all tasks at once);
 * execution changes still arrive live and trigger a re-read at once.
 */
export const DEFAULT_TASK_LIST_POLL_INTERVAL_MS = 500;

/** A task with the tasks it called, in call order. */
export interface TaskNode {
  task: Task;
  children: TaskNode[];
}

/** Tasks by state, and the finished/total pair a progress bar shows. */
export interface TaskCounts {
  total: number;
  /** Tasks in a terminal state (COMPLETED, FAILED, CANCELLED). */
  finished: number;
  byState: Record<TaskState, number>;
}

/** Options of `taskListUpdates`. */
export interface TaskListOptions {
  pollIntervalMs?: number;
  signal?: AbortSignal;
}

/** An execution with all its tasks at one moment. */
export interface TaskListSnapshot {
  execution: Execution;
  /** Flat, parents before children; `buildTaskTree` nests them. */
  tasks: Task[];
  counts: TaskCounts;
}

/** Nests a flat task list (from `tasks()`) by `parentId`; returns the roots (normally one). */
export function buildTaskTree(tasks: readonly Task[]): TaskNode[] {
  const nodes = new Map(tasks.map((task) => [task.id, { task, children: [] as TaskNode[] }]));
  const roots: TaskNode[] = [];
  for (const node of nodes.values()) {
    const parent = node.task.parentId ? nodes.get(node.task.parentId) : undefined;
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  return roots;
}

/** Counts tasks by state. */
export function countTasks(tasks: readonly Task[]): TaskCounts {
  const byState: Record<TaskState, number> = { PENDING: 0, RUNNING: 0, WAITING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0 };
  for (const task of tasks) byState[task.state]++;
  return { total: tasks.length, finished: byState.COMPLETED + byState.FAILED + byState.CANCELLED, byState };
}

/** What `taskListUpdates` needs of a client. */
export interface TaskListSource {
  tasks(executionId: string): Promise<Task[]>;
  executionUpdates(id: string, options?: { signal?: AbortSignal }): AsyncIterableIterator<Execution>;
}

/**
 * The execution and its tasks, again after every change (of the execution, live, or of a task,
 * polled), ending with the snapshot taken after the terminal state.
 */
export async function* taskListUpdates(client: TaskListSource, executionId: string, options: TaskListOptions = {}): AsyncGenerator<TaskListSnapshot, undefined, undefined> {
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_TASK_LIST_POLL_INTERVAL_MS;
  const updates = client.executionUpdates(executionId, { signal: options.signal });
  let execution: Execution | undefined;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  let ended = false;
  // Execution changes are pumped in the background; each one cuts the poll wait short.
  const pump = (async () => {
    try {
      for await (const value of updates) {
        execution = value;
        wake?.();
      }
    } catch (error) {
      failure = { error };
    } finally {
      ended = true;
      wake?.();
    }
  })();
  let lastKey = '';
  try {
    for (;;) {
      if (failure) throw failure.error;
      const seen = execution;
      if (seen) {
        const tasks = await client.tasks(executionId);
        const key = `${seen.version}|${tasks.map((task) => `${task.id}:${task.version}`).join(',')}`;
        if (key !== lastKey) {
          lastKey = key;
          yield { execution: seen, tasks, counts: countTasks(tasks) };
        }
        // Tasks read after the terminal version are final too.
        if (seen.terminal) return;
      }
      if (ended && execution === seen) return;
      if (execution === seen && !failure) await waitOrWake(seen ? pollIntervalMs : undefined, options.signal, (resolve) => (wake = resolve));
      wake = undefined;
      options.signal?.throwIfAborted();
    }
  } finally {
    await updates.return?.();
    await pump;
  }
}

/** Waits `ms` (forever when undefined) or until woken or aborted. */
function waitOrWake(ms: number | undefined, signal: AbortSignal | undefined, setWake: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = ms === undefined ? undefined : setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    setWake(done);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
