import type { ExecutionRecord } from '../domain/types.js';
import { requireFullAccess } from './access.js';
import { builder } from './builder.js';

const SendSignalInput = builder.inputType('SendSignalInput', {
  fields: (t) => ({
    executionId: t.id({ required: true }),
    name: t.string({ required: true, description: 'What `ctx.waitForSignal(name)` waits for.' }),
    payload: t.field({ type: 'JSON', description: 'What the wait receives (JSON; default null).' }),
  }),
});

interface SendSignalPayloadShape {
  signalId: string;
  deliveredToTaskId: string | undefined;
  execution: ExecutionRecord;
}

const SendSignalPayload = builder.objectRef<SendSignalPayloadShape>('SendSignalPayload').implement({
  fields: (t) => ({
    signalId: t.exposeID('signalId'),
    delivered: t.boolean({
      description: 'True when a wait received it at once; false when it is queued for the next wait of that name.',
      resolve: (p) => p.deliveredToTaskId !== undefined,
    }),
    deliveredToTaskId: t.id({ nullable: true, description: 'The wait task that received it.', resolve: (p) => p.deliveredToTaskId ?? null }),
    execution: t.field({ type: 'Execution', resolve: (p) => p.execution }),
  }),
});

builder.mutationField('sendSignal', (t) =>
  t.field({
    type: SendSignalPayload,
    description: 'Sends a signal to an execution: each signal reaches exactly one wait of its name, in order. CONFLICT once the execution has finished.',
    args: { input: t.arg({ type: SendSignalInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      requireFullAccess(ctx, 'sendSignal');
      const executionId = String(input.executionId);
      const sent = await ctx.senpuki.sendSignal(executionId, input.name, input.payload ?? null);
      return { signalId: sent.signalId, deliveredToTaskId: sent.deliveredTo, execution: await ctx.senpuki.stateOf(executionId) };
    },
  }),
);
