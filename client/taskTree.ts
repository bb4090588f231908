import type { Execution, Task, TaskState } from './types.js';

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
  executionTasksUpdates(executionId: string, options?: { signal?: AbortSignal }): AsyncIterableIterator<Task>;
}

/**
 * The execution and its tasks, again after every change of either (both pushed, through
 * `executionUpdated` and `executionTasksUpdated`), ending with the snapshot taken once the
 * execution is terminal and its tasks are settled. Changes that arrive while the consumer is busy
 * make one snapshot. The first one waits for one read of the whole task list, because the
 * subscription's first events arrive one task at a time with nothing to mark the last; the
 * subscription starts first, so no change is missed either way.
 */
export async function* taskListUpdates(client: TaskListSource, executionId: string, options: TaskListOptions = {}): AsyncGenerator<TaskListSnapshot, undefined, undefined> {
  const executionUpdates = client.executionUpdates(executionId, { signal: options.signal });
  const taskUpdates = client.executionTasksUpdates(executionId, { signal: options.signal });
  const tasks = new TaskList();
  let execution: Execution | undefined;
  let listed = false;
  let changed = false;
  let running = 2;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const pump = async <T>(updates: AsyncIterable<T>, take: (value: T) => void) => {
    try {
      for await (const value of updates) {
        take(value);
        notify();
      }
    } catch (error) {
      failure ??= { error };
    } finally {
      running--;
      notify();
    }
  };
  const pumps = [
    pump(executionUpdates, (value) => {
      execution = value;
      changed = true;
    }),
    pump(taskUpdates, (task) => {
      if (tasks.put(task)) changed = true;
    }),
  ];
  client.tasks(executionId).then(
    (list) => {
      for (const task of list) tasks.put(task);
      listed = changed = true;
      notify();
    },
    (error: unknown) => {
      failure ??= { error };
      notify();
    },
  );
  try {
    for (;;) {
      if (failure) throw failure.error;
      if (execution && listed && changed) {
        const list = tasks.list();
        const counts = countTasks(list);
        // A terminal execution's row can arrive before its last tasks' changes: wait for those
        // (its task stream ends after them) rather than show "completed" with 3/4 tasks done.
        if (!(execution.terminal && counts.finished < counts.total && running > 0)) {
          changed = false;
          yield { execution, tasks: list, counts };
          continue; // more may have come while the consumer had the snapshot
        }
      }
      if (running === 0 && listed) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    await Promise.all([executionUpdates.return?.(), taskUpdates.return?.()]);
    await Promise.all(pumps);
  }
}

/** The newest version of each task, parents before children. */
class TaskList {
  private readonly byId = new Map<string, Task>();
  private order: string[] = [];
  private sorted = true;

  /** Keeps `task` unless a newer version is here already; true when it changed the list. */
  put(task: Task): boolean {
    const known = this.byId.get(task.id);
    if (known && known.version >= task.version) return false;
    if (!known) {
      this.order.push(task.id);
      this.sorted = false;
    }
    this.byId.set(task.id, task);
    return true;
  }

  list(): Task[] {
    if (!this.sorted) {
      this.order.sort((a, b) => byCreation(this.byId.get(a)!, this.byId.get(b)!));
      this.sorted = true;
    }
    return this.order.map((id) => this.byId.get(id)!);
  }
}

/** Oldest first (a parent exists before it calls), the root first, then in call order. */
function byCreation(a: Task, b: Task): number {
  if (a.createdAt !== b.createdAt) return Date.parse(a.createdAt) - Date.parse(b.createdAt);
  if (a.callKey === null || b.callKey === null) return a.callKey === null ? (b.callKey === null ? 0 : -1) : 1;
  return a.callKey.localeCompare(b.callKey, 'en', { numeric: true });
}
