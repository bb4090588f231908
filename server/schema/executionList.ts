import type { ExecutionRecord } from '../engine/types.js';
import { MAX_GRAPHQL_PAGE_SIZE, MAX_NAME_LENGTH, checkText } from '../engine/validation.js';
import { ValidationError } from '../errors.js';
import { unwrapLiveEvent } from '../realtime/liveStream.js';
import type { ExactExecutionCursor, ExecutionFilter } from '../store/store.js';
import { requireFullAccess } from './access.js';
import { builder } from './builder.js';
import { PageInfoRef, checkPageSize, decodeCursor, encodeCursor, type PageInfoShape } from './common.js';
import { ExecutionStateEnum, checkChangeSeq } from './execution.js';
import { subscribeLive } from './live.js';

export const DEFAULT_EXECUTIONS_PAGE_SIZE = 20;

const ExecutionFilterInput = builder.inputType('ExecutionFilter', {
  description: 'Every given field must match.',
  fields: (t) => ({
    state: t.field({ type: [ExecutionStateEnum], description: 'Any of these states.' }),
    function: t.string({ description: 'Name of the durable function.' }),
    tag: t.string({ description: 'Has this tag.' }),
    queue: t.string(),
    createdAfter: t.field({ type: 'DateTime' }),
  }),
});

type FilterArg = typeof ExecutionFilterInput.$inferInput | null | undefined;

function toFilter(input: FilterArg): ExecutionFilter {
  const filter: ExecutionFilter = {};
  if (!input) return filter;
  if (input.state) filter.state = [...input.state];
  if (input.function != null) filter.functionName = checkText(input.function, 'filter.function', MAX_NAME_LENGTH);
  if (input.tag != null) filter.tag = checkText(input.tag, 'filter.tag', MAX_NAME_LENGTH);
  if (input.queue != null) filter.queue = checkText(input.queue, 'filter.queue', MAX_NAME_LENGTH);
  if (input.createdAfter != null) filter.createdAfter = input.createdAfter;
  return filter;
}

interface ExecutionEdgeShape {
  cursor: string;
  node: ExecutionRecord;
}

interface ExecutionConnectionShape {
  edges: ExecutionEdgeShape[];
  pageInfo: PageInfoShape;
  filter: ExecutionFilter;
}

const ExecutionEdge = builder.objectRef<ExecutionEdgeShape>('ExecutionEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: 'Execution', resolve: (edge) => edge.node }),
  }),
});

const ExecutionConnection = builder.objectRef<ExecutionConnectionShape>('ExecutionConnection').implement({
  description: 'A page of executions, newest first.',
  fields: (t) => ({
    edges: t.field({ type: [ExecutionEdge], resolve: (connection) => connection.edges }),
    nodes: t.field({ type: ['Execution'], resolve: (connection) => connection.edges.map((edge) => edge.node) }),
    pageInfo: t.field({ type: PageInfoRef, resolve: (connection) => connection.pageInfo }),
    totalCount: t.int({
      description: 'Executions matching the filter, over all pages (one extra COUNT query).',
      resolve: (connection, _args, ctx) => ctx.senpuki.countExecutions(connection.filter),
    }),
  }),
});

function decodeExecutionCursor(after: string): ExactExecutionCursor {
  const value = decodeCursor(after);
  if (
    Array.isArray(value) &&
    value.length === 2 &&
    typeof value[0] === 'string' &&
    /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(value[0]) &&
    typeof value[1] === 'string' &&
    /^[0-9a-f-]{36}$/i.test(value[1])
  ) {
    return { createdAt: value[0], id: value[1] };
  }
  throw new ValidationError('after must be a cursor from an earlier executions page (pageInfo.endCursor or an edge cursor), passed unchanged');
}

builder.queryField('executions', (t) =>
  t.field({
    type: ExecutionConnection,
    description: 'Executions matching `filter`, newest first, as a Relay connection.',
    args: {
      filter: t.arg({ type: ExecutionFilterInput }),
      first: t.arg.int({ description: `Page size, 1-${MAX_GRAPHQL_PAGE_SIZE} (default ${DEFAULT_EXECUTIONS_PAGE_SIZE}).` }),
      after: t.arg.string({ description: 'The `endCursor` of the previous page.' }),
    },
    resolve: async (_root, args, ctx) => {
      requireFullAccess(ctx, 'executions');
      const first = checkPageSize(args.first, DEFAULT_EXECUTIONS_PAGE_SIZE, MAX_GRAPHQL_PAGE_SIZE, 'executions');
      const filter = toFilter(args.filter);
      const after = args.after == null ? undefined : decodeExecutionCursor(args.after);
      const rows = await ctx.senpuki.pageExecutions(filter, first + 1, after);
      const edges = rows.slice(0, first).map((row) => ({ cursor: encodeCursor([row.cursor.createdAt, row.cursor.id]), node: row.execution }));
      return {
        edges,
        filter,
        pageInfo: {
          hasNextPage: rows.length > first,
          hasPreviousPage: after !== undefined,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
  }),
);

builder.queryField('changeCursor', (t) =>
  t.string({
    description:
      'The position of the latest change in the global change sequence (the highest `Execution.changeSeq`, a decimal number). ' +
      'Pass it as `executionsUpdated(since:)` to start a list subscription there: one that drops before its first event then resumes without a gap.',
    resolve: (_root, _args, ctx) => {
      requireFullAccess(ctx, 'changeCursor');
      return ctx.executionsFeed.currentCursor();
    },
  }),
);

builder.subscriptionField('executionsUpdated', (t) =>
  t.field({
    type: 'Execution',
    description:
      'Every change of an execution matching `filter` (and the change that takes one out of a state filter). ' +
      'Without `since` it starts with changes from now on; subscribe first, then query `executions`, to miss nothing.',
    args: {
      filter: t.arg({ type: ExecutionFilterInput }),
      since: t.arg.string({ description: 'The highest `changeSeq` received: resume after it, missing nothing in between.' }),
    },
    subscribe: async (_root, args, ctx) => {
      requireFullAccess(ctx, 'executionsUpdated');
      const filter = toFilter(args.filter);
      // Fixed before the subscription counts as open: every later change is delivered.
      const since = checkChangeSeq(args.since, 'Execution.changeSeq') ?? (await ctx.executionsFeed.currentCursor());
      return subscribeLive(ctx, (signal) => ctx.executionsFeed.watch(filter, { since, signal }), 'executionsUpdated');
    },
    resolve: (event) => unwrapLiveEvent(event),
  }),
);
