import type { DispatchOptions } from '../engine/senpuki.js';
import type { ExecutionRecord } from '../engine/types.js';
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

builder.mutationField('dispatch', (t) =>
  t.field({
    type: DispatchPayload,
    description: 'Starts an execution of a durable function.',
    args: { input: t.arg({ type: DispatchInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      requireFullAccess(ctx, 'dispatch');
      const options: DispatchOptions = {};
      if (input.queue != null) options.queue = input.queue;
      if (input.tags != null) options.tags = input.tags;
      if (input.priority != null) options.priority = input.priority;
      if (input.delay != null) options.delay = input.delay;
      if (input.maxDuration != null) options.maxDuration = input.maxDuration;
      if (input.idempotencyKey != null) options.idempotencyKey = input.idempotencyKey;
      const { execution, created } = await ctx.senpuki.submit(input.function, (input.args ?? []) as unknown[], options, ctx.maxArgsBytes);
      const { token, expiresAt } = await ctx.tokens.issue(execution.id);
      return { execution, created, token, tokenExpiresAt: expiresAt };
    },
  }),
);
