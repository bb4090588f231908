/**
 * When a worker's claim loop should look for work. A wake-up (work announced in one of its
 * queues) always counts. A freed slot counts only when work may still be waiting: the last claim
 * filled its limit, or something was announced since it started; otherwise that claim emptied the
 * queues, and an idle worker would send an empty claim after every task it finishes. A slot freed
 * while a claim is in flight needs nothing either: a claim that fills its limit is followed by
 * another anyway.
 */
export class WorkSignal {
  private wakeUps = 0;
  private mayWait = true;
  private claiming = false;

  constructor(private readonly wakeLoop: () => void) {}

  /** Work was announced (a dispatch, a retry, a requeued task, a limited slot come free). */
  announced(): void {
    this.wakeUps++;
    this.mayWait = true;
    this.wakeLoop();
  }

  /** True while no claim is under way and the last one left nothing waiting (nothing announced since). */
  get idle(): boolean {
    return !this.mayWait && !this.claiming;
  }

  /** A concurrency slot came free. */
  slotFreed(): void {
    if (this.mayWait && !this.claiming) this.wakeLoop();
  }

  /** Runs one claim of up to `limit` tasks and learns from what it found. */
  async claim<T>(limit: number, run: () => Promise<T[]>): Promise<T[]> {
    const wakeUpsBefore = this.wakeUps;
    this.claiming = true;
    try {
      const claimed = await run();
      this.mayWait = claimed.length === limit || this.wakeUps !== wakeUpsBefore;
      return claimed;
    } finally {
      this.claiming = false;
    }
  }
}
