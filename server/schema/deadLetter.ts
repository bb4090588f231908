import type { DeadLetterRecord, ExecutionRecord } from '../engine/types.js';
import { MAX_GRAPHQL_PAGE_SIZE, MAX_NAME_LENGTH, checkText } from '../engine/validation.js';
import { ValidationError } from '../errors.js';
import { requireFullAccess } from './access.js';
import { builder } from './builder.js';
import { ErrorInfoRef, PageInfoRef, checkPageSize, decodeCursor, encodeCursor, type PageInfoShape } from './common.js';

export const DEFAULT_DEAD_LETTERS_PAGE_SIZE = 50;

builder.objectType('DeadLetter', {
  description: 'A task that failed for good (retries exhausted or not retryable).',
  fields: (t) => ({
    id: t.exposeID('id'),
    taskId: t.exposeID('taskId'),
    executionId: t.exposeID('executionId'),
    function: t.exposeString('functionName'),
    args: t.field({ type: 'JSON', resolve: (letter) => letter.args }),
    error: t.field({ type: ErrorInfoRef, resolve: (letter) => letter.error }),
    attempts: t.exposeInt('attempts'),
    createdAt: t.field({ type: 'DateTime', resolve: (letter) => letter.createdAt }),
    execution: t.field({ type: 'Execution', nullable: true, resolve: async (letter, _args, ctx) => (await ctx.senpuki.feed.readExecution(letter.executionId)) ?? null }),
    task: t.field({ type: 'Task', nullable: true, resolve: async (letter, _args, ctx) => (await ctx.senpuki.feed.readTask(letter.taskId)) ?? null }),
  }),
});

interface DeadLetterEdgeShape {
  cursor: string;
  node: DeadLetterRecord;
}

const DeadLetterEdge = builder.objectRef<DeadLetterEdgeShape>('DeadLetterEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: 'DeadLetter', resolve: (edge) => edge.node }),
  }),
});

interface DeadLetterConnectionShape {
  edges: DeadLetterEdgeShape[];
  pageInfo: PageInfoShape;
  filter: { executionId?: string; functionName?: string };
}

const DeadLetterConnection = builder.objectRef<DeadLetterConnectionShape>('DeadLetterConnection').implement({
  description: 'A page of dead letters, newest first.',
  fields: (t) => ({
    edges: t.field({ type: [DeadLetterEdge], resolve: (connection) => connection.edges }),
    nodes: t.field({ type: ['DeadLetter'], resolve: (connection) => connection.edges.map((edge) => edge.node) }),
    pageInfo: t.field({ type: PageInfoRef, resolve: (connection) => connection.pageInfo }),
    totalCount: t.int({
      description: 'Dead letters matching the filter, over all pages (one extra COUNT query).',
      resolve: (connection, _args, ctx) => ctx.senpuki.countDeadLetters(connection.filter),
    }),
  }),
});

const DeadLetterFilterInput = builder.inputType('DeadLetterFilter', {
  fields: (t) => ({
    executionId: t.id(),
    function: t.string({ description: 'Name of the durable function whose task failed.' }),
  }),
});

const ReplayDeadLetterPayload = builder.objectRef<{ execution: ExecutionRecord }>('ReplayDeadLetterPayload').implement({
  fields: (t) => ({
    execution: t.field({ type: 'Execution', description: 'The execution, running again from where it failed.', resolve: (p) => p.execution }),
  }),
});

const DiscardDeadLetterPayload = builder.objectRef<{ id: string }>('DiscardDeadLetterPayload').implement({
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The dead letter removed.' }),
  }),
});

function decodeOffset(after: string): number {
  const value = decodeCursor(after) as { o?: unknown } | undefined;
  if (value && Number.isInteger(value.o) && (value.o as number) >= 0) return value.o as number;
  throw new ValidationError('after must be a cursor from an earlier deadLetters page (pageInfo.endCursor), passed unchanged');
}

builder.queryField('deadLetters', (t) =>
  t.field({
    type: DeadLetterConnection,
    description: 'Tasks that failed for good, newest first.',
    args: {
      filter: t.arg({ type: DeadLetterFilterInput }),
      first: t.arg.int({ description: `Page size, 1-${MAX_GRAPHQL_PAGE_SIZE} (default ${DEFAULT_DEAD_LETTERS_PAGE_SIZE}).` }),
      after: t.arg.string({ description: 'The `endCursor` of the previous page.' }),
    },
    resolve: async (_root, args, ctx) => {
      requireFullAccess(ctx, 'deadLetters');
      const first = checkPageSize(args.first, DEFAULT_DEAD_LETTERS_PAGE_SIZE, MAX_GRAPHQL_PAGE_SIZE, 'deadLetters');
      const offset = args.after == null ? 0 : decodeOffset(args.after);
      const filter: DeadLetterConnectionShape['filter'] = {};
      if (args.filter?.executionId != null) filter.executionId = String(args.filter.executionId);
      if (args.filter?.function != null) filter.functionName = checkText(args.filter.function, 'filter.function', MAX_NAME_LENGTH);
      // The engine pages by offset; the cursor hides that so it can become a keyset later.
      const rows = await ctx.senpuki.listDeadLetters({ ...filter, limit: first + 1, offset });
      const edges = rows.slice(0, first).map((node, i) => ({ cursor: encodeCursor({ o: offset + i + 1 }), node }));
      return {
        edges,
        filter,
        pageInfo: {
          hasNextPage: rows.length > first,
          hasPreviousPage: offset > 0,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
  }),
);

builder.mutationField('replayDeadLetter', (t) =>
  t.field({
    type: ReplayDeadLetterPayload,
    description: 'Runs a dead letter\'s task again; its failed execution continues where it failed, without re-running completed steps.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      requireFullAccess(ctx, 'replayDeadLetter');
      const executionId = await ctx.senpuki.replayDeadLetter(String(id));
      return { execution: await ctx.senpuki.stateOf(executionId) };
    },
  }),
);

builder.mutationField('discardDeadLetter', (t) =>
  t.field({
    type: DiscardDeadLetterPayload,
    description: 'Removes a dead letter without running it again (its execution stays as it is); NOT_FOUND when there is none with this id.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      requireFullAccess(ctx, 'discardDeadLetter');
      await ctx.senpuki.discardDeadLetter(String(id));
      return { id: String(id) };
    },
  }),
);
