import type { WorkerRecord } from '../domain/types.js';
import { watchWorkers } from '../realtime/workersFeed.js';
import { unwrapLiveEvent } from '../realtime/liveStream.js';
import { requireFullAccess } from './access.js';
import { builder } from './builder.js';
import { subscribeLive } from './live.js';

const WorkerRef = builder.objectRef<WorkerRecord>('Worker').implement({
  description: 'A worker process, as it records itself every second; workers not seen for a few seconds are gone.',
  fields: (t) => ({
    id: t.exposeID('id'),
    host: t.exposeString('host'),
    pid: t.exposeInt('pid'),
    queues: t.exposeStringList('queues', { description: 'Queues it takes tasks from.' }),
    tags: t.stringList({ nullable: true, description: 'It takes only tasks sharing one of these tags; null for any.', resolve: (worker) => worker.tags ?? null }),
    functions: t.exposeStringList('functions', { description: 'Functions registered in its process.' }),
    concurrency: t.exposeInt('concurrency', { description: 'Slots: tasks it runs at once.' }),
    running: t.exposeInt('running', { description: 'Tasks holding a slot now.' }),
    suspended: t.exposeInt('suspended', { description: 'Orchestrators waiting in memory (on children, sleeps, signals), holding no slot.' }),
    startedAt: t.field({ type: 'DateTime', resolve: (worker) => worker.startedAt }),
    lastSeenAt: t.field({ type: 'DateTime', resolve: (worker) => worker.lastSeenAt }),
  }),
});

builder.queryField('workers', (t) =>
  t.field({
    type: [WorkerRef],
    description: 'The live workers of every process on this store, oldest first.',
    resolve: (_root, _args, ctx) => {
      requireFullAccess(ctx, 'workers');
      return ctx.senpuki.liveWorkers();
    },
  }),
);

builder.subscriptionField('workersUpdated', (t) =>
  t.field({
    type: [WorkerRef],
    description: 'The live workers now, then again whenever a worker comes or goes, or what it runs changes.',
    subscribe: (_root, _args, ctx) => {
      requireFullAccess(ctx, 'workersUpdated');
      return subscribeLive(ctx, (signal) => watchWorkers(() => ctx.senpuki.liveWorkers(), { signal }), 'workersUpdated');
    },
    resolve: (event) => unwrapLiveEvent(event),
  }),
);
