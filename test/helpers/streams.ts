import type { Senpuki } from '../../server/engine/senpuki.js';
import type { StreamChunk } from '../../server/domain/types.js';

/** Every chunk of a stream after `after` until it closes; fails instead of hanging. */
export async function readStreamToEnd(senpuki: Senpuki, executionId: string, name: string, after?: number): Promise<StreamChunk[]> {
  const signal = AbortSignal.timeout(15_000);
  const chunks: StreamChunk[] = [];
  for await (const chunk of senpuki.readStream(executionId, name, { after, signal })) chunks.push(chunk);
  if (signal.aborted) throw new Error(`stream ${name} of ${executionId} did not close; got ${JSON.stringify(chunks)}`);
  return chunks;
}
