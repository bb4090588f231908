import { DEFAULT_MAX_DISPATCH_BATCH, DispatchBatchError, toNewExecutions, type DispatchOptions } from '../engine/dispatchInput.js';
import type { ExecutionRecord } from '../engine/types.js';
import { ValidationError } from '../errors.js';
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

/** `input.args` as an argument list, or what is wrong with it (this server's size limit included). */
function argsOf(input: typeof DispatchInput.$inferInput, maxArgsBytes: number): unknown[] {
  const args = input.args ?? [];
  if (!Array.isArray(args)) {
    throw new ValidationError(
      `args must be a JSON array of the arguments of ${input.function}, e.g. [${JSON.stringify(args)}] for a function taking one argument; got ${JSON.stringify(args).slice(0, 60)}`,
    );
  }
  const bytes = Buffer.byteLength(JSON.stringify(args));
  if (bytes > maxArgsBytes) {
    throw new ValidationError(
      `args are ${bytes} bytes of JSON; this server accepts at most ${maxArgsBytes}. Store large data elsewhere and pass a reference (an id or a URL).`,
    );
  }
  return args;
}

builder.mutationField('dispatch', (t) =>
  t.field({
    type: DispatchPayload,
    description: 'Starts an execution of a durable function.',
    args: { input: t.arg({ type: DispatchInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      requireFullAccess(ctx, 'dispatch');
      const { execution, created } = await ctx.senpuki.submit(input.function, argsOf(input, ctx.maxArgsBytes), dispatchOptionsOf(input));
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
      if (items.length > DEFAULT_MAX_DISPATCH_BATCH) {
        throw new ValidationError(`dispatchMany takes at most ${DEFAULT_MAX_DISPATCH_BATCH} items at once; got ${items.length}. Split the batch.`);
      }
      const errors: Array<{ index: number; message: string }> = [];
      const batch = items.map((input, index) => {
        try {
          return { fn: input.function, args: argsOf(input, ctx.maxArgsBytes), options: dispatchOptionsOf(input) };
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          errors.push({ index, message: error.message });
          return { fn: input.function };
        }
      });
      if (errors.length > 0) {
        // Report every bad item at once: the engine's checks too, for the items that passed ours.
        const rest = batch.flatMap((item, index) => (errors.some((error) => error.index === index) ? [] : [{ item, index }]));
        try {
          toNewExecutions(ctx.senpuki.registry, rest.map(({ item }) => item), Number.POSITIVE_INFINITY);
        } catch (error) {
          if (!(error instanceof DispatchBatchError)) throw error;
          errors.push(...error.items.map((item) => ({ index: rest[item.index]!.index, message: item.message })));
        }
        throw new DispatchBatchError(errors.sort((a, b) => a.index - b.index), items.length);
      }
      const results = await ctx.senpuki.submitMany(batch);
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
