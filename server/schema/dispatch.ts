import { DEFAULT_MAX_DISPATCH_BATCH, type DispatchOptions } from '../engine/dispatchInput.js';
import type { ExecutionRecord } from '../domain/types.js';
import { requireFullAccess } from './access.js';
import { builder } from './builder.js';

const DispatchInput = builder.inputType('DispatchInput', {
  fields: (t) => ({
    function: t.string({ required: true, description: 'Name of a registered durable function (see `functions`).' }),
    args: t.field({
      type: 'JSON',
      description: 'The function\'s arguments as a JSON array, e.g. ["order-1", 2] for fn(ctx, "order-1", 2). Default [].',
    }),
    queue: t.string({ description: 'Default: the function\'s queue.' }),
    tags: t.stringList(),
    priority: t.int({ description: 'Higher runs first (-1000000 to 1000000).' }),
    delay: t.field({ type: 'Duration', description: 'Start no earlier than this from now.' }),
    maxDuration: t.field({ type: 'Duration', description: 'The execution ends as TIMED_OUT when it runs longer.' }),
    idempotencyKey: t.string({ description: 'A second dispatch with the same key returns the first execution.' }),
  }),
});

interface DispatchPayloadShape {
  execution: ExecutionRecord;
  created: boolean;
  token: string;
  tokenExpiresAt: Date;
}

const DispatchPayload = builder.objectRef<DispatchPayloadShape>('DispatchPayload').implement({
  fields: (t) => ({
    execution: t.field({ type: 'Execution', resolve: (p) => p.execution }),
    created: t.exposeBoolean('created', { description: 'False when an earlier dispatch with the same idempotencyKey is returned.' }),
    token: t.exposeString('token', {
      description: 'A short-lived bearer token that can read and subscribe to this execution and its tasks only: hand it to a browser.',
    }),
    tokenExpiresAt: t.field({ type: 'DateTime', resolve: (p) => p.tokenExpiresAt }),
  }),
});

/** The engine's options from a `DispatchInput` (absent and null fields alike left out). */
function dispatchOptionsOf(input: typeof DispatchInput.$inferInput): DispatchOptions {
  const options: DispatchOptions = {};
  if (input.queue != null) options.queue = input.queue;
  if (input.tags != null) options.tags = input.tags;
  if (input.priority != null) options.priority = input.priority;
  if (input.delay != null) options.delay = input.delay;
  if (input.maxDuration != null) options.maxDuration = input.maxDuration;
  if (input.idempotencyKey != null) options.idempotencyKey = input.idempotencyKey;
  return options;
}

builder.mutationField('dispatch', (t) =>
  t.field({
    type: DispatchPayload,
    description: 'Starts an execution of a durable function.',
    args: { input: t.arg({ type: DispatchInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      requireFullAccess(ctx, 'dispatch');
      const { execution, created } = await ctx.senpuki.submit(input.function, (input.args ?? []) as unknown[], dispatchOptionsOf(input), ctx.maxArgsBytes);
      const { token, expiresAt } = await ctx.tokens.issue(execution.id);
      return { execution, created, token, tokenExpiresAt: expiresAt };
    },
  }),
);

const DispatchManyPayload = builder.objectRef<{ items: DispatchPayloadShape[] }>('DispatchManyPayload').implement({
  fields: (t) => ({
    items: t.field({
      type: [DispatchPayload],
      description: 'One per input item, in input order.',
      resolve: (payload) => payload.items,
    }),
  }),
});

builder.mutationField('dispatchMany', (t) =>
  t.field({
    type: DispatchManyPayload,
    description:
      `Starts many executions at once (at most ${DEFAULT_MAX_DISPATCH_BATCH}), with one database statement. Each item's idempotencyKey is ` +
      'honoured as in `dispatch`. When any item is invalid, none is dispatched: the BAD_USER_INPUT error lists each bad item ' +
      '(`extensions.items`: its index and what is wrong).',
    args: { items: t.arg({ type: [DispatchInput], required: true }) },
    resolve: async (_root, { items }, ctx) => {
      requireFullAccess(ctx, 'dispatchMany');
      // The engine checks every item (this server's args limit included) and names each bad one.
      const batch = items.map((input) => ({ fn: input.function, args: (input.args ?? []) as unknown[], options: dispatchOptionsOf(input) }));
      const results = await ctx.senpuki.submitMany(batch, ctx.maxArgsBytes);
      return {
        items: await Promise.all(
          results.map(async ({ execution, created }) => {
            const { token, expiresAt } = await ctx.tokens.issue(execution.id);
            return { execution, created, token, tokenExpiresAt: expiresAt };
          }),
        ),
      };
    },
  }),
);
