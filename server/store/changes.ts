import type { ExecutionState, TaskState } from '../domain/types.js';

/**
 * What a write changed, so the engine can announce it after commit: one notification per row,
 * and a worker wake-up per queue that got runnable work.
 */
export interface Changes {
  tasks: Array<{ id: string; state: TaskState; executionId: string }>;
  executions: Array<{ id: string; state: ExecutionState }>;
  /** Queues that received tasks runnable now. */
  wakeQueues: string[];
}

export const noChanges = (): Changes => ({ tasks: [], executions: [], wakeQueues: [] });

export function mergeChanges(into: Changes, from: Changes): Changes {
  into.tasks.push(...from.tasks);
  into.executions.push(...from.executions);
  into.wakeQueues.push(...from.wakeQueues);
  return into;
}
