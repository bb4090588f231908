import type { ProgressPatch } from '../store/store.js';

/** Least time between two progress writes of one task. */
export const DEFAULT_PROGRESS_WRITE_INTERVAL_MS = 50;

/**
 * Coalesces one task's progress reports, so a function may report from a tight loop: at most one
 * write per interval, where the latest progress and custom state win and counter increments add
 * up. `flush()` writes whatever is left; the runner calls it before the task's outcome is written.
 */
export class ProgressWriter {
  private pending: ProgressPatch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private lastWriteAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly write: (patch: ProgressPatch) => Promise<void>,
    private readonly onError: (error: unknown) => void,
    private readonly intervalMs = DEFAULT_PROGRESS_WRITE_INTERVAL_MS,
  ) {}

  report(patch: ProgressPatch): void {
    const pending = (this.pending ??= {});
    if (patch.progress !== undefined) pending.progress = patch.progress;
    if (patch.customState !== undefined) pending.customState = patch.customState;
    for (const [name, by] of Object.entries(patch.increments ?? {})) {
      pending.increments ??= {};
      pending.increments[name] = (pending.increments[name] ?? 0) + by;
    }
    this.schedule();
  }

  /** Writes what is pending now and waits for every write in flight. */
  async flush(): Promise<void> {
    while (this.writing || this.pending) {
      clearTimeout(this.timer);
      this.timer = undefined;
      if (this.writing) await this.writing;
      else await this.writeNow();
    }
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer || this.writing || !this.pending) return;
    const waitMs = this.lastWriteAt + this.intervalMs - performance.now();
    if (waitMs <= 0) {
      void this.writeNow();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeNow();
    }, waitMs);
    this.timer.unref();
  }

  private writeNow(): Promise<void> {
    const patch = this.pending;
    this.pending = undefined;
    if (!patch) return Promise.resolve();
    this.lastWriteAt = performance.now();
    this.writing = this.write(patch)
      .catch(this.onError) // Progress is advisory: a failed write must not fail the task.
      .finally(() => {
        this.writing = undefined;
        this.schedule();
      });
    return this.writing;
  }
}
