import type { OperationResult } from '@urql/core';
import { onEnd, pipe, subscribe, type Source } from 'wonka';
import { fromCombinedError, toSenpukiClientError } from './errors.js';
import { rootRow, type LiveCursor } from './resume.js';

export interface LiveIteratorOptions {
  /**
   * Opens the urql subscription (called on the first `next()`, so an unused iterator costs
   * nothing); may first read what it needs (a start cursor). `stop` is aborted when the iterator ends.
   */
  open: (stop: AbortSignal) => Source<OperationResult> | Promise<Source<OperationResult>>;
  /** This iterator's own view of what is news (results are shared with other subscribers of the key). */
  cursor: LiveCursor;
  signal?: AbortSignal;
  /** Called once when the iterator ends, however it ends. */
  onEnd?: () => void;
  /** Told when the subscription is live (true: a result arrived) and when it is reconnecting (false). */
  onLive?: (live: boolean) => void;
}

/**
 * An async iterator over a live subscription's rows: each one newer than the last, the final
 * one (a terminal state) last. `return()` — what `break` in `for await` calls — unsubscribes at
 * once, which tears the server-side subscription down; it does not wait for the next event.
 */
export class LiveIterator<T> implements AsyncIterableIterator<T, undefined> {
  private readonly queue: T[] = [];
  private waiting?: { resolve: (result: IteratorResult<T, undefined>) => void; reject: (error: unknown) => void };
  private started = false;
  private done = false;
  private failure: { error: unknown } | undefined;
  private subscription?: { unsubscribe(): void };
  private live: boolean | undefined;
  private readonly stop = new AbortController();
  private readonly abort = () => this.fail(this.options.signal?.reason);

  constructor(private readonly options: LiveIteratorOptions) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (!this.started) this.start();
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.failure) {
      const { error } = this.failure;
      this.failure = undefined;
      return Promise.reject(error);
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  async return(): Promise<IteratorResult<T, undefined>> {
    this.queue.length = 0;
    this.finish();
    return { value: undefined, done: true };
  }

  /** Ends the iterator with `error` (client closed, aborted); a pending `next()` rejects with it. */
  fail(error: unknown): void {
    if (this.done) return;
    this.queue.length = 0;
    const waiting = this.waiting;
    this.waiting = undefined;
    this.finish();
    if (waiting) waiting.reject(error);
    else this.failure = { error };
  }

  private start(): void {
    this.started = true;
    const { signal } = this.options;
    if (signal?.aborted) return this.abort();
    signal?.addEventListener('abort', this.abort, { once: true });
    const opened = this.options.open(this.stop.signal);
    if (typeof opened === 'function') return this.listen(opened);
    opened.then(
      (source) => this.listen(source),
      (error: unknown) => this.fail(toSenpukiClientError(error)),
    );
  }

  private listen(source: Source<OperationResult>): void {
    if (this.done) return;
    this.subscription = pipe(
      source,
      onEnd(() => this.finish()),
      subscribe((result: OperationResult) => this.onResult(result)),
    );
    // The source may have ended synchronously, before `subscription` was assigned.
    if (this.done) this.subscription.unsubscribe();
  }

  private onResult(result: OperationResult): void {
    if (this.done) return;
    if (result.error) return this.fail(fromCombinedError(result.error));
    if (this.live !== !result.stale) {
      this.live = !result.stale;
      this.options.onLive?.(this.live);
    }
    if (result.stale) return;
    const row = rootRow(result.data);
    if (row === undefined || row === null || !this.options.cursor.accept(row)) return;
    this.push(row as T);
    if (this.options.cursor.isFinal(row)) this.finish();
  }

  private push(value: T): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) waiting.resolve({ value, done: false });
    else this.queue.push(value);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.stop.abort();
    this.options.signal?.removeEventListener('abort', this.abort);
    this.subscription?.unsubscribe();
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ value: undefined, done: true });
    this.options.onEnd?.();
  }
}
