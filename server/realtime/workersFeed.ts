import type { WorkerRecord } from '../engine/types.js';
import { delayOrWake } from '../support/timers.js';

/** How often the worker list is read for live watchers (workers refresh their rows every second). */
export const DEFAULT_WORKERS_POLL_INTERVAL_MS = 1000;

export interface WorkersFeedOptions {
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * The live workers now, then again whenever the set of workers or what they do changes (not on
 * every refresh of `lastSeenAt`). Workers write no announcements, so this one polls; the reads
 * go through `read`, which the engine caches for a second, so many watchers cost one query.
 * A failed read is a missed tick.
 */
export async function* watchWorkers(read: () => Promise<WorkerRecord[]>, options: WorkersFeedOptions = {}): AsyncGenerator<WorkerRecord[]> {
  const intervalMs = options.intervalMs ?? DEFAULT_WORKERS_POLL_INTERVAL_MS;
  const { signal } = options;
  let last: string | undefined;
  let wake: (() => void) | undefined;
  const onAbort = () => wake?.();
  signal?.addEventListener('abort', onAbort);
  try {
    while (!signal?.aborted) {
      const workers = await read().catch(() => undefined);
      if (signal?.aborted) return;
      if (workers) {
        const key = JSON.stringify(workers.map(({ lastSeenAt: _seen, ...rest }) => rest));
        if (key !== last) {
          last = key;
          yield workers;
        }
      }
      await delayOrWake(intervalMs, (resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
