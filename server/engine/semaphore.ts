/** Counts a worker's free concurrency slots; waiters are served first come, first served. */
export class Semaphore {
  private readonly waiters: Array<() => void> = [];

  /** `onRelease` runs whenever a slot comes free (the worker claims more work then). */
  constructor(
    private free: number,
    private readonly onRelease: () => void = () => {},
  ) {}

  get available(): number {
    return this.free;
  }

  /** Takes a slot now if one is free. */
  tryAcquire(): boolean {
    if (this.free <= 0) return false;
    this.free--;
    return true;
  }

  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else {
      this.free++;
      this.onRelease();
    }
  }
}
