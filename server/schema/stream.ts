import type { StreamChunk, StreamInfo } from '../engine/types.js';
import { assertUuid, checkName, checkStreamPosition } from '../engine/validation.js';
import { unwrapLiveEvent } from '../realtime/liveStream.js';
import type { StreamEvent } from '../realtime/streamFeed.js';
import { requireExecutionAccess } from './access.js';
import { builder } from './builder.js';
import { subscribeLive } from './live.js';

const StreamChunkRef = builder.objectRef<StreamChunk>('StreamChunk').implement({
  description: 'One chunk a function wrote to a stream (`ctx.stream(name).write(chunk)`).',
  fields: (t) => ({
    seq: t.exposeInt('seq', { description: '1 for the first chunk of the stream, then 2, 3, ...; pass the last one you have as `after` to resume.' }),
    run: t.exposeInt('run', {
      description:
        'Which run of the writing task wrote it. A re-run (a retry, a resume on another worker) does not write again what the stream holds; ' +
        'when its output differs, it starts the next run, whose chunks are its whole output. To show a result, show the chunks of the highest run.',
    }),
    data: t.field({ type: 'JSON', nullable: true, description: 'The chunk, any JSON.', resolve: (chunk) => chunk.data }),
  }),
});

const StreamEventRef = builder.objectRef<StreamEvent>('StreamEvent').implement({
  description: 'What `executionStream` sends: the chunks written since its previous event, in seq order. The first event holds the backlog (maybe none).',
  fields: (t) => ({
    chunks: t.field({ type: [StreamChunkRef], resolve: (event) => event.chunks }),
    closed: t.exposeBoolean('closed', { description: 'True on the last event: the stream is closed and every chunk has been sent; the subscription completes.' }),
  }),
});

const StreamRef = builder.objectRef<StreamInfo>('Stream').implement({
  description: 'A stream of an execution, without its chunks (`executionStream` sends those).',
  fields: (t) => ({
    name: t.exposeString('name'),
    taskId: t.exposeID('taskId', { description: 'The task writing it.' }),
    length: t.exposeInt('length', { description: 'Chunks written: the seq of the last one (0 while empty).' }),
    run: t.exposeInt('run', { description: 'The run of its latest chunks (see StreamChunk.run).' }),
    closed: t.exposeBoolean('closed', { description: 'Closed by the function, or its task or execution ended: nothing more will be written.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (stream) => stream.createdAt }),
  }),
});

builder.objectField('Execution', 'streams', (t) =>
  t.field({
    type: [StreamRef],
    description: 'The streams its functions write (`ctx.stream`), oldest first; follow one with `executionStream`.',
    resolve: (execution, _args, ctx) => ctx.senpuki.listStreams(execution),
  }),
);

builder.subscriptionField('executionStream', (t) =>
  t.field({
    type: StreamEventRef,
    description:
      'The chunks of stream `name` after `after`: the backlog first, then each chunk as it is written; completes after the event with `closed`. ' +
      'A stream not opened yet is waited for. The same access as the execution: its read token may follow its streams.',
    args: {
      executionId: t.arg.id({ required: true }),
      name: t.arg.string({ required: true }),
      after: t.arg.int({ description: 'The last seq you have: only later chunks are sent (default 0, the whole stream).' }),
    },
    subscribe: async (_root, args, ctx) => {
      const executionId = String(args.executionId);
      assertUuid(executionId, 'executionId');
      requireExecutionAccess(ctx, executionId);
      const name = checkName(args.name, 'name');
      const after = checkStreamPosition(args.after, 'after');
      await ctx.senpuki.stateOf(executionId); // NOT_FOUND now, as an error, rather than a silent stream
      return subscribeLive(ctx, (signal) => ctx.senpuki.streamFeed.watch(executionId, name, { after, signal }));
    },
    resolve: (event) => unwrapLiveEvent(event),
  }),
);
