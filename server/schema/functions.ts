import type { RetryPolicy } from '../engine/retry.js';
import { requireFullAccess } from './access.js';
import { builder } from './builder.js';

const RetryPolicyRef = builder.objectRef<RetryPolicy>('RetryPolicy').implement({
  description: 'How failed tasks of a function are retried. maxAttempts counts the first run: 1 means no retry.',
  fields: (t) => ({
    maxAttempts: t.exposeInt('maxAttempts'),
    initialDelayMs: t.exposeInt('initialDelayMs'),
    backoffFactor: t.exposeFloat('backoffFactor'),
    maxDelayMs: t.exposeInt('maxDelayMs'),
    jitter: t.exposeFloat('jitter', { description: 'Fraction of the delay added or removed at random (0.1 = ±10%).' }),
    retryOn: t.stringList({
      nullable: true,
      description: 'Error names that are retried; null means every error (except NonRetryableError).',
      resolve: (policy) => policy.retryOn ?? null,
    }),
  }),
});

builder.objectType('DurableFunction', {
  description: 'A durable function registered with the server, what `dispatch(input: { function })` names.',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.string({ nullable: true, resolve: (fn) => fn.description ?? null }),
    queue: t.exposeString('queue', { description: 'Default queue of its executions.' }),
    tags: t.exposeStringList('tags'),
    priority: t.exposeInt('priority'),
    retry: t.field({ type: RetryPolicyRef, resolve: (fn) => fn.retry }),
  }),
});

builder.queryField('functions', (t) =>
  t.field({
    type: ['DurableFunction'],
    description: 'The durable functions this server can dispatch, by name.',
    resolve: (_root, _args, ctx) => {
      requireFullAccess(ctx, 'functions');
      return ctx.senpuki.registry.list();
    },
  }),
);
