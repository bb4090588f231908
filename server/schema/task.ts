import { TERMINAL_TASK_STATES, type TaskKind, type TaskRun, type TaskRunOutcomeName, type TaskState } from '../domain/types.js';
import { assertUuid } from '../engine/validation.js';
import { NotFoundError } from '../errors.js';
import { unwrapLiveEvent } from '../realtime/liveStream.js';
import { requireExecutionAccess } from './access.js';
import { builder, type SchemaContext } from './builder.js';
import { ErrorInfoRef } from './common.js';
import { checkChangeSeq, checkSince, type RowTarget } from './execution.js';
import { subscribeLive } from './live.js';
import { childrenOf, parentOf } from './taskTree.js';

export const TaskStateEnum = builder.enumType('TaskState', {
  description: 'PENDING → RUNNING → COMPLETED | FAILED (retries go back to PENDING); WAITING for sleeps and signals; CANCELLED with its execution.',
  values: {
    PENDING: { value: 'pending' },
    RUNNING: { value: 'running' },
    WAITING: { value: 'waiting' },
    COMPLETED: { value: 'completed' },
    FAILED: { value: 'failed' },
    CANCELLED: { value: 'cancelled' },
  } as const satisfies Record<string, { value: TaskState }>,
});

export const TaskKindEnum = builder.enumType('TaskKind', {
  values: {
    FUNCTION: { value: 'function', description: 'A call of a durable function.' },
    SLEEP: { value: 'sleep', description: 'A durable sleep.' },
    SIGNAL: { value: 'signal', description: 'A wait for a signal.' },
  } as const satisfies Record<string, { value: TaskKind; description: string }>,
});

const TaskRunOutcomeEnum = builder.enumType('TaskRunOutcome', {
  description: 'How one run of a task ended.',
  values: {
    COMPLETED: { value: 'completed' },
    RETRIED: { value: 'retried', description: 'It threw; a retry is due (after the retry delay).' },
    FAILED: { value: 'failed', description: 'It failed for good.' },
    RELEASED: { value: 'released', description: 'Handed back unfinished by a worker shutting down.' },
    LOST: { value: 'lost', description: 'Its worker died or went silent; it was taken back.' },
    CANCELLED: { value: 'cancelled', description: 'Its execution ended while it ran.' },
  } as const satisfies Record<string, { value: TaskRunOutcomeName; description?: string }>,
});

const TaskRunRef = builder.objectRef<TaskRun>('TaskRun').implement({
  description: 'One finished run of a task: its attempt, when it ran and how it ended.',
  fields: (t) => ({
    attempt: t.exposeInt('attempt'),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (run) => run.startedAt ?? null }),
    finishedAt: t.field({ type: 'DateTime', resolve: (run) => run.finishedAt }),
    outcome: t.field({ type: TaskRunOutcomeEnum, resolve: (run) => run.outcome }),
    worker: t.string({ nullable: true, resolve: (run) => run.worker ?? null }),
    error: t.field({ type: ErrorInfoRef, nullable: true, resolve: (run) => run.error ?? null }),
  }),
});

builder.objectType('Task', {
  description: 'One step of an execution: a function call, a sleep or a signal wait. `version` increases by one on every change.',
  fields: (t) => ({
    id: t.exposeID('id'),
    executionId: t.exposeID('executionId'),
    execution: t.field({
      type: 'Execution',
      resolve: async (task, _args, ctx) => {
        const execution = await ctx.senpuki.findExecution(task.executionId);
        if (!execution) throw new NotFoundError(`No execution with id ${task.executionId}`);
        return execution;
      },
    }),
    parentId: t.id({ nullable: true, description: 'The calling task; null for the root.', resolve: (task) => task.parentTaskId ?? null }),
    parent: t.field({ type: 'Task', nullable: true, resolve: (task, _args, ctx) => parentOf(ctx, task) }),
    children: t.field({ type: ['Task'], description: 'Tasks this one called, in call order.', resolve: (task, _args, ctx) => childrenOf(ctx, task) }),
    callKey: t.string({
      nullable: true,
      description: 'Deterministic key `<parent task id>:<call sequence>`; null for the root.',
      resolve: (task) => task.callKey ?? null,
    }),
    kind: t.field({ type: TaskKindEnum, resolve: (task) => task.kind }),
    function: t.exposeString('functionName'),
    args: t.field({ type: 'JSON', resolve: (task) => task.args }),
    state: t.field({ type: TaskStateEnum, resolve: (task) => task.state }),
    terminal: t.boolean({ description: 'True once the state is final (COMPLETED, FAILED or CANCELLED).', resolve: (task) => TERMINAL_TASK_STATES.has(task.state) }),
    result: t.field({ type: 'JSON', nullable: true, resolve: (task) => task.result ?? null }),
    error: t.field({ type: ErrorInfoRef, nullable: true, resolve: (task) => task.error ?? null }),
    attempt: t.exposeInt('attempt', { description: '1 on the first run, 2 on the first retry, ...' }),
    runs: t.field({
      type: [TaskRunRef],
      description: 'Its finished runs, oldest first (the last 50): attempts, retries with their errors, runs lost with a worker.',
      resolve: (task) => task.runs,
    }),
    maxAttempts: t.exposeInt('maxAttempts'),
    queue: t.exposeString('queue'),
    tags: t.exposeStringList('tags'),
    priority: t.exposeInt('priority'),
    scheduledFor: t.field({ type: 'DateTime', description: 'When it may run next (retry delays, sleeps).', resolve: (task) => task.scheduledFor }),
    createdAt: t.field({ type: 'DateTime', resolve: (task) => task.createdAt }),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (task) => task.startedAt ?? null }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (task) => task.finishedAt ?? null }),
    version: t.exposeInt('version'),
    changeSeq: t.exposeString('changeSeq'),
  }),
});

builder.queryField('task', (t) =>
  t.field({
    type: 'Task',
    nullable: true,
    description: 'One task; NOT_FOUND when there is none with this id.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const task = await ctx.senpuki.getTask(String(id));
      requireExecutionAccess(ctx, task.executionId);
      return task;
    },
  }),
);

/** The checks of a `taskUpdated` subscription, and the row it follows (see `executionUpdatedTarget`). */
export async function taskUpdatedTarget(ctx: Pick<SchemaContext, 'principal' | 'senpuki'>, args: { id: string | number; since?: number | null }): Promise<RowTarget> {
  const since = checkSince(args.since);
  const task = await ctx.senpuki.getTask(String(args.id)); // BAD_USER_INPUT / NOT_FOUND as an error, not a silent stream
  requireExecutionAccess(ctx, task.executionId);
  return { id: task.id, since };
}

builder.subscriptionField('taskUpdated', (t) =>
  t.field({
    type: 'Task',
    description: 'The task now (unless `since` already has this version), then every newer version; completes after the terminal state.',
    args: {
      id: t.arg.id({ required: true }),
      since: t.arg.int({ description: 'The last `version` the client has; older and equal versions are not sent.' }),
    },
    subscribe: async (_root, args, ctx) => {
      const { id, since } = await taskUpdatedTarget(ctx, args);
      return subscribeLive(ctx, (signal) => ctx.senpuki.watchTask(id, { since, signal }), 'taskUpdated');
    },
    resolve: (event) => unwrapLiveEvent(event),
  }),
);

builder.subscriptionField('executionTasksUpdated', (t) =>
  t.field({
    type: 'Task',
    description:
      'Every task of the execution now (or those changed after `since`), then each task whose row changes; ' +
      'completes once the execution is terminal and its last task changes are sent. Task changes do not change the execution\'s version: this is how to follow them.',
    args: {
      executionId: t.arg.id({ required: true }),
      since: t.arg.string({ description: 'The highest task `changeSeq` received: resume after it, missing nothing in between.' }),
    },
    subscribe: async (_root, args, ctx) => {
      const executionId = String(args.executionId);
      assertUuid(executionId, 'executionId');
      requireExecutionAccess(ctx, executionId);
      const since = checkChangeSeq(args.since, 'Task.changeSeq');
      await ctx.senpuki.stateOf(executionId); // NOT_FOUND now, as an error, rather than a silent stream
      return subscribeLive(ctx, (signal) => ctx.executionTasksFeed.watch(executionId, { since, signal }), 'executionTasksUpdated');
    },
    resolve: (event) => unwrapLiveEvent(event),
  }),
);
