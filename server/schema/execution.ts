import { TERMINAL_EXECUTION_STATES, type ExecutionRecord, type ExecutionState } from '../domain/types.js';
import { assertUuid } from '../engine/validation.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { unwrapLiveEvent } from '../realtime/liveStream.js';
import { requireExecutionAccess, requireFullAccess } from './access.js';
import { builder, type SchemaContext } from './builder.js';
import { ErrorInfoRef, ProgressRef } from './common.js';
import { subscribeLive } from './live.js';
import { treeOf } from './taskTree.js';

/** GraphQL enum values (SCREAMING_CASE) for the engine's state names. */
export const ExecutionStateEnum = builder.enumType('ExecutionState', {
  description: 'Lifecycle: PENDING → RUNNING → COMPLETED | FAILED | TIMED_OUT, or CANCELLING → CANCELLED.',
  values: {
    PENDING: { value: 'pending' },
    RUNNING: { value: 'running' },
    COMPLETED: { value: 'completed' },
    FAILED: { value: 'failed' },
    TIMED_OUT: { value: 'timed_out' },
    CANCELLING: { value: 'cancelling' },
    CANCELLED: { value: 'cancelled' },
  } as const satisfies Record<string, { value: ExecutionState }>,
});

builder.objectType('Execution', {
  description: 'One run of a durable function, made of tasks. `version` increases by one on every change.',
  fields: (t) => ({
    id: t.exposeID('id'),
    function: t.exposeString('functionName', { description: 'Name of the durable function it runs.' }),
    args: t.field({ type: 'JSON', resolve: (execution) => execution.args }),
    state: t.field({ type: ExecutionStateEnum, resolve: (execution) => execution.state }),
    terminal: t.boolean({
      description: 'True once the state is final (COMPLETED, FAILED, TIMED_OUT or CANCELLED).',
      resolve: (execution) => TERMINAL_EXECUTION_STATES.has(execution.state),
    }),
    result: t.field({ type: 'JSON', nullable: true, resolve: (execution) => execution.result ?? null }),
    error: t.field({ type: ErrorInfoRef, nullable: true, resolve: (execution) => execution.error ?? null }),
    queue: t.exposeString('queue'),
    tags: t.exposeStringList('tags'),
    priority: t.exposeInt('priority'),
    idempotencyKey: t.string({ nullable: true, resolve: (execution) => execution.idempotencyKey ?? null }),
    progress: t.field({ type: ProgressRef, nullable: true, resolve: (execution) => execution.progress ?? null }),
    customState: t.field({ type: 'JSON', nullable: true, description: 'State the function published.', resolve: (execution) => execution.customState ?? null }),
    counters: t.field({ type: 'JSON', resolve: (execution) => execution.counters }),
    createdAt: t.field({ type: 'DateTime', resolve: (execution) => execution.createdAt }),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (execution) => execution.startedAt ?? null }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (execution) => execution.finishedAt ?? null }),
    deadlineAt: t.field({ type: 'DateTime', nullable: true, resolve: (execution) => execution.deadlineAt ?? null }),
    version: t.exposeInt('version', { description: 'Increases by one on every write; pass the last one seen as `since` to resume.' }),
    changeSeq: t.exposeString('changeSeq', {
      description: 'Global order of the last write (a decimal number); pass the highest seen as `executionsUpdated(since:)` to resume.',
    }),
    waitingReason: t.string({
      nullable: true,
      description:
        'Set while PENDING when no live worker will take it: no worker at all, none on its queue, none with its function, none taking its tags. Null otherwise.',
      resolve: (execution, _args, ctx) => ctx.senpuki.unservedReason(execution, ctx.principal.kind !== 'executionToken').then((reason) => reason ?? null),
    }),
    rootTask: t.field({
      type: 'Task',
      description: 'The task running the function itself; its `children` form the tree of calls.',
      resolve: async (execution, _args, ctx) => {
        const root = (await treeOf(ctx, execution)).byId.get(execution.rootTaskId);
        if (!root) throw new Error(`root task ${execution.rootTaskId} of execution ${execution.id} is missing`);
        return root;
      },
    }),
    tasks: t.field({
      type: ['Task'],
      description: 'Every task of the execution, flat, oldest first (parents before their children).',
      resolve: async (execution, _args, ctx) => (await treeOf(ctx, execution)).list,
    }),
  }),
});

const CancelExecutionPayload = builder.objectRef<{ execution: ExecutionRecord }>('CancelExecutionPayload').implement({
  fields: (t) => ({
    execution: t.field({ type: 'Execution', description: 'The execution after the request: CANCELLING while tasks stop, then CANCELLED.', resolve: (p) => p.execution }),
  }),
});

builder.queryField('execution', (t) =>
  t.field({
    type: 'Execution',
    nullable: true,
    description: 'One execution; NOT_FOUND when there is none with this id.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => {
      requireExecutionAccess(ctx, String(id));
      return ctx.senpuki.stateOf(String(id));
    },
  }),
);

builder.mutationField('cancelExecution', (t) =>
  t.field({
    type: CancelExecutionPayload,
    description: 'Cancels an execution: running tasks see their signal aborted. Cancelling a finished execution changes nothing.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      requireFullAccess(ctx, 'cancelExecution');
      await ctx.senpuki.cancel(String(id));
      return { execution: await ctx.senpuki.stateOf(String(id)) };
    },
  }),
);

builder.subscriptionField('executionUpdated', (t) =>
  t.field({
    type: 'Execution',
    description:
      'The execution now (unless `since` already has this version), then every newer version; completes after the terminal state.',
    args: {
      id: t.arg.id({ required: true }),
      since: t.arg.int({ description: 'The last `version` the client has; older and equal versions are not sent.' }),
    },
    subscribe: async (_root, args, ctx) => {
      const { id, since } = await executionUpdatedTarget(ctx, args);
      return subscribeLive(ctx, (signal) => ctx.senpuki.watchExecution(id, { since, signal }), 'executionUpdated');
    },
    resolve: (event) => unwrapLiveEvent(event),
  }),
);

/** The row a subscription follows, and the version its subscriber already has. */
export interface RowTarget {
  id: string;
  since: number | undefined;
}

/**
 * The checks of an `executionUpdated` subscription (id, access, `since`, NOT_FOUND), and the row
 * it follows: the field's subscribe resolver and the graphql-ws row path (http/rowSubscriptions.ts) share them.
 */
export async function executionUpdatedTarget(ctx: Pick<SchemaContext, 'principal' | 'senpuki'>, args: { id: string | number; since?: number | null }): Promise<RowTarget> {
  const executionId = String(args.id);
  assertUuid(executionId, 'id');
  requireExecutionAccess(ctx, executionId);
  const since = checkSince(args.since);
  // NOT_FOUND now, as an error, rather than a silent stream; through the batching loader, so a
  // thousand subscriptions opened together cost one SELECT.
  if (!(await ctx.senpuki.findExecution(executionId))) throw new NotFoundError(`No execution with id ${executionId}`);
  return { id: executionId, since };
}

/** Validates a `since` change sequence argument; `field` names where the value comes from ("Execution.changeSeq"). */
export function checkChangeSeq(since: string | null | undefined, field: string): string | undefined {
  if (since === null || since === undefined) return undefined;
  if (!/^\d{1,19}$/.test(since)) throw new ValidationError(`since must be a ${field} value (a decimal number); got ${JSON.stringify(since)}`);
  return since;
}

/** Validates a `since` version argument. */
export function checkSince(since: number | null | undefined): number | undefined {
  if (since === null || since === undefined) return undefined;
  if (!Number.isInteger(since) || since < 0) throw new ValidationError(`since must be a version number of at least 0 (the last \`version\` you received); got ${since}`);
  return since;
}
