import type { StreamFeed } from '../realtime/streamFeed.js';
import type { Json, StreamChunk } from '../domain/types.js';
import { checkName, checkStreamPosition } from './validation.js';

/** Options of `senpuki.readStream`. */
export interface ReadStreamOptions {
  /** The last seq you have: only later chunks are returned (default 0, from the first). */
  after?: number;
  /** Aborting ends the iteration quietly. */
  signal?: AbortSignal;
}

/**
 * `senpuki.readStream`: the chunks of a stream after `after`, what is there first, then each one
 * as it is committed; ends once the stream is closed (by its writer, or its task or execution
 * ended). A stream not opened yet is waited for. NotFoundError for an unknown execution.
 */
export async function* readStream<T = Json>(
  deps: { streamFeed: StreamFeed; stateOf(id: string): Promise<unknown> },
  executionId: string,
  name: string,
  options: ReadStreamOptions,
): AsyncGenerator<StreamChunk<T>> {
  const after = checkStreamPosition(options.after, 'after');
  checkName(name, 'stream name');
  await deps.stateOf(executionId); // NotFoundError now, rather than a wait for nothing
  for await (const event of deps.streamFeed.watch(executionId, name, { after, signal: options.signal })) {
    for (const chunk of event.chunks) yield chunk as StreamChunk<T>;
  }
}
