import type { Changes, SettleInput, Store } from '../store/store.js';
import { isTransientStoreError } from '../store/transientErrors.js';
import { yieldToEventLoop } from '../support/timers.js';

/** Most outcomes written by one statement; more wait for the next. */
export const DEFAULT_SETTLE_BATCH_SIZE = 100;

interface Pending {
  input: SettleInput;
  resolve: (changes: Changes | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * Writes one worker's task outcomes in batches, as graphile-worker does its completions: an
 * outcome that arrives while no write is in flight goes out at the next turn of the event loop
 * (with whatever else finished in that turn), or at once when no other task of the worker is
 * running its function (nothing else could join it); outcomes arriving meanwhile wait for that
 * write and go out together in the next. An idle worker adds no delay; a busy one writes many
 * tasks per statement. Each caller gets its own task's changes (undefined when fenced off) or the
 * error of the write its outcome was part of, and retries as it would a single write.
 */
export class TaskSettler {
  private queue: Pending[] = [];
  private flushing = false;

  constructor(
    private readonly store: Store,
    private readonly workerId: string,
    /** Whether another task of the worker may still finish in this turn of the event loop. */
    private readonly othersExecuting: () => boolean = () => true,
    private readonly batchSize = DEFAULT_SETTLE_BATCH_SIZE,
  ) {}

  settle(input: SettleInput): Promise<Changes | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        if (this.othersExecuting()) setImmediate(() => void this.flush());
        else queueMicrotask(() => void this.flush());
      }
    });
  }

  private deliver(batch: Pending[], results: Array<PromiseSettledResult<Changes | undefined>>): void {
    batch.forEach((pending, i) => {
      const result = results[i]!;
      if (result.status === 'fulfilled') pending.resolve(result.value);
      else pending.reject(result.reason);
    });
  }

  private async flush(): Promise<void> {
    let first = true;
    while (this.queue.length > 0) {
      if (!first) await yieldToEventLoop(); // Let the event loop turn between batches (see Worker's claim loop).
      first = false;
      const batch = this.queue.splice(0, this.batchSize);
      try {
        this.deliver(batch, await this.store.settleTasks(this.workerId, batch.map((pending) => pending.input)));
      } catch (error) {
        if (batch.length === 1 || isTransientStoreError(error)) {
          for (const pending of batch) pending.reject(error);
          continue;
        }
        // One outcome the store refuses (a result it cannot hold) must not fail its neighbours:
        // each is written alone, and only the culprit gets the error.
        for (const pending of batch) {
          this.deliver([pending], await this.store.settleTasks(this.workerId, [pending.input]).catch((alone: unknown) => [{ status: 'rejected' as const, reason: alone }]));
        }
      }
    }
    this.flushing = false;
  }
}
