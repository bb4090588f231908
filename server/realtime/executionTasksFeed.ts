/**
 * Every task of one execution whose row changes (GraphQL `executionTasksUpdated`: progress bars,
 * task trees): a row set (see rowSetFeed.ts) over the execution's tasks channel and their change
 * sequence. Task writes do not bump the execution's version, so this is the only push-driven way
 * to see a child start or finish.
 *
 *   snapshot (all tasks, or those changed after `since`) ─► each task change ─► execution terminal
 *   and no task still running ─► the last task changes ─► end
 *
 * The execution's own channel is listened to as well: a timeout ends an execution without
 * touching a running task, and the feed must notice that to check whether it is done.
 */
import { TERMINAL_EXECUTION_STATES, TERMINAL_TASK_STATES, type ExecutionRecord, type TaskRecord, type TaskState } from '../domain/types.js';
import { executionChannel, executionTasksChannel } from '../notifications/channels.js';
import type { ExecutionsFeedConfig } from './executionsFeed.js';
import { parseRowMessage, SharedRowSets, type RowSet, type RowSetWatchOptions } from './rowSetFeed.js';

export interface ExecutionTasksFeedConfig extends ExecutionsFeedConfig {
  /** Reads one task (pass the change feed's batching loader so concurrent reads share a query). */
  readTask?: (id: string) => Promise<TaskRecord | undefined>;
}

export class ExecutionTasksFeed {
  private readonly readTask: (id: string) => Promise<TaskRecord | undefined>;
  private readonly readExecution: (id: string) => Promise<ExecutionRecord | undefined>;
  /** One feed per execution watched in this process, however many subscriptions follow it. */
  private readonly shared: SharedRowSets<TaskRecord>;

  constructor(private readonly config: ExecutionTasksFeedConfig) {
    this.readTask = config.readTask ?? ((id) => config.store.getTask(id));
    this.readExecution = config.readExecution ?? ((id) => config.store.getExecution(id));
    this.shared = new SharedRowSets(config);
  }

  /** Executions whose tasks are watched in this process. */
  get feedCount(): number {
    return this.shared.size;
  }

  /**
   * The execution's tasks changed after `since` (a Task's `changeSeq`; all of them without it),
   * then each task change; ends once the execution is terminal and none of its tasks can change any more.
   */
  watch(executionId: string, options: RowSetWatchOptions = {}): AsyncGenerator<TaskRecord> {
    return this.shared.watch(executionId, () => this.tasksOf(executionId), options);
  }

  private tasksOf(executionId: string): RowSet<TaskRecord> {
    const { store } = this.config;
    return {
      channels: [
        { channel: executionTasksChannel(executionId), rowOf: (payload) => parseRowMessage<TaskState>(payload, 'task_id')?.id },
        { channel: executionChannel(executionId) },
      ],
      read: this.readTask,
      changedAfter: (afterSeq, limit) => store.listExecutionTasksChangedAfter(executionId, afterSeq, limit),
      inView: (task) => task.executionId === executionId, // a foreign message cannot pull in another execution's task
      start: () => store.maxExecutionTaskChangeSeq(executionId),
      snapshot: true,
      final: async () => {
        const execution = await this.readExecution(executionId);
        if (execution && !TERMINAL_EXECUTION_STATES.has(execution.state)) return undefined;
        // A task still running (a timed-out execution's) will be cancelled when its worker notices.
        const tasks = await store.listTasks(executionId);
        if (execution && tasks.some((task) => !TERMINAL_TASK_STATES.has(task.state))) return undefined;
        // Read in full, not after a cursor: a late commit may carry a change number below one seen.
        return tasks;
      },
    };
  }
}
