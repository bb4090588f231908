import type { WorkerRecord } from '../domain/types.js';

/** What a task needs of a worker to be claimed by it. */
export interface ServableWork {
  queue: string;
  tags: string[];
  functionName: string;
}

/**
 * Why no live worker will take `work`, in words an operator can act on; undefined when one can
 * (it may still wait for a free slot, a delay or a concurrency limit). `detail` names the queues
 * and functions the live workers do serve (leave it off for callers who should not see them).
 */
export function unservedReason(work: ServableWork, workers: readonly WorkerRecord[], detail = true): string | undefined {
  if (workers.length === 0) return 'No worker is running: none has been seen in the last few seconds. Start one (senpuki worker, or senpuki serve with a worker).';
  const onQueue = workers.filter((worker) => worker.queues.includes(work.queue));
  if (onQueue.length === 0) {
    const served = [...new Set(workers.flatMap((worker) => worker.queues))].sort();
    return `No live worker takes queue "${work.queue}"${detail ? ` (live workers take: ${served.join(', ')})` : ''}. Start one with --queue ${work.queue}.`;
  }
  const withFunction = onQueue.filter((worker) => worker.functions.includes(work.functionName));
  if (withFunction.length === 0) {
    return `No live worker on queue "${work.queue}" has "${work.functionName}" registered. Load the module that defines it in the workers (--functions).`;
  }
  const withTags = withFunction.filter((worker) => worker.tags === undefined || worker.tags.some((tag) => work.tags.includes(tag)));
  if (withTags.length === 0) {
    const tags = work.tags.length ? `tags ${work.tags.join(', ')}` : 'no tags';
    return `Every live worker that runs "${work.functionName}" takes only tagged tasks, and this one has ${tags}${detail ? ` (workers take tags: ${[...new Set(withFunction.flatMap((worker) => worker.tags ?? []))].sort().join(', ')})` : ''}.`;
  }
  return undefined;
}
