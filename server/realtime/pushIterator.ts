/**
 * An async iterator fed by pushes: the values its consumer has not taken yet, then the end (or a
 * failure, thrown by the `next()` after the last value). A plain object rather than an async
 * generator: `return()` ends it at once even while a `next()` is pending, so a consumer that
 * leaves needs no abort controller of its own, and an idle one holds no suspended frame.
 *
 * `newestOnly` keeps just the latest value for a slow consumer: right for rows and states, whose
 * newer version supersedes the older; wrong for a stream of changes, which must keep them all.
 */
export class PushIterator<T> implements AsyncIterableIterator<T> {
  private readonly held: T[] = [];
  private ending = false;
  private failure: { error: unknown } | undefined;
  private closed = false;
  private pending: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void } | undefined;

  constructor(private readonly newestOnly: boolean) {}

  /** Called once when the consumer is done with it: the end was taken, or it returned early. */
  protected onClose(): void {}

  /** True once it was told to finish (values held may still be waiting to be taken). */
  protected get finishing(): boolean {
    return this.ending;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  push(value: T): void {
    if (this.ending) return;
    if (this.newestOnly) this.held.length = 0;
    this.held.push(value);
    this.flush();
  }

  /** Ends after the values held, with `failure` thrown if given. */
  finish(failure?: { error: unknown }): void {
    if (this.ending) return;
    this.ending = true;
    this.failure = failure;
    this.flush();
  }

  private flush(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    this.settle(pending);
  }

  private settle(pending: NonNullable<PushIterator<T>['pending']>): void {
    if (this.held.length > 0) return pending.resolve({ done: false, value: this.held.shift()! });
    const failure = this.failure;
    this.failure = undefined;
    this.close();
    if (failure) pending.reject(failure.error);
    else pending.resolve({ done: true, value: undefined });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ending = true;
    try {
      this.onClose();
    } catch {
      // Bookkeeping must not break the iterator's end.
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.held.length > 0 || this.ending) return new Promise((resolve, reject) => this.settle({ resolve, reject }));
    return new Promise((resolve, reject) => (this.pending = { resolve, reject }));
  }

  return(_value?: unknown): Promise<IteratorResult<T>> {
    this.held.length = 0;
    this.failure = undefined;
    this.close();
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve({ done: true, value: undefined });
    return Promise.resolve({ done: true, value: undefined });
  }

  /** graphql-ws ends only iterators that look like generators (next, return and throw). */
  throw(error: unknown): Promise<IteratorResult<T>> {
    void this.return();
    return Promise.reject(error);
  }
}
