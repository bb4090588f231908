/**
 * Wraps a change-feed generator for a client-facing subscription (GraphQL over graphql-ws or SSE).
 *
 *   open ─► next() pulls the feed ─► feed ends ─────────────────────────────► done
 *              │            └─ feed throws ─► one StreamFailure event ──────► done
 *              └─ return() / shutdown / deadline ─► abort the feed ─► (deadline: one failure) ─► done
 *
 * Why not hand the generator over as is: `return()` on an async generator that is parked in an
 * `await` (waiting for the next change) only takes effect at its next `yield`, so a client that
 * unsubscribes would keep a feed, a channel listener and a poll timer alive until the row
 * changes again. Aborting the feed's signal ends it at once. And a stream that throws mid-way
 * is lost on SSE (the response just breaks off), so failures travel as events instead: the
 * GraphQL field resolver rethrows them, which makes a regular `{ errors }` payload on every
 * transport, followed by completion.
 */

/** A failure delivered in-band; `unwrapLiveEvent` rethrows it inside the field resolver. */
export class StreamFailure {
  constructor(readonly error: unknown) {}
}

export interface LiveStreamOptions {
  /** Ends the stream quietly (server shutdown). */
  signal?: AbortSignal;
  /** Ends the stream at this time with the failure `deadlineError()` (an expiring credential). */
  deadline?: { at: Date; error: () => unknown };
  /** Called once when the stream ends, however it ends (metrics, subscription counts). */
  onClose?: () => void;
}

/** Rethrows a failure event; passes a row through. */
export function unwrapLiveEvent<T>(event: T | StreamFailure): T {
  if (event instanceof StreamFailure) throw event.error;
  return event;
}

/** An async iterator over `open(signal)` that ends promptly on `return()`, shutdown or deadline. */
export function liveStream<T>(
  open: (signal: AbortSignal) => AsyncIterator<T>,
  options: LiveStreamOptions = {},
): AsyncIterableIterator<T | StreamFailure> {
  const controller = new AbortController();
  let expired = false;
  let finished = false;
  const onShutdown = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onShutdown, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (options.deadline) {
    const onDeadline = () => {
      expired = true;
      controller.abort(new Error('deadline'));
    };
    const delayMs = options.deadline.at.getTime() - Date.now();
    if (delayMs <= 0) onDeadline();
    else timer = setTimeout(onDeadline, Math.min(delayMs, 2 ** 31 - 1)).unref();
  }
  if (options.signal?.aborted) onShutdown();
  const inner = open(controller.signal);

  const finish = () => {
    if (finished) return;
    finished = true;
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onShutdown);
    try {
      options.onClose?.();
    } catch {
      // Bookkeeping must not break the stream's end.
    }
  };
  const done = (): IteratorResult<T | StreamFailure> => ({ done: true, value: undefined });
  /** Ends with one failure event when the deadline ended the feed. */
  const endOrExpire = (): IteratorResult<T | StreamFailure> => {
    if (expired && options.deadline) {
      expired = false;
      finish();
      return { done: false, value: new StreamFailure(options.deadline.error()) };
    }
    finish();
    return done();
  };

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (finished) return done();
      if (controller.signal.aborted) {
        await inner.return?.(undefined)?.catch(() => {});
        return endOrExpire();
      }
      try {
        const result = await inner.next();
        if (result.done || controller.signal.aborted) return endOrExpire();
        return { done: false, value: result.value };
      } catch (error) {
        if (controller.signal.aborted) return endOrExpire();
        finish();
        return { done: false, value: new StreamFailure(error) };
      }
    },
    async return() {
      expired = false;
      controller.abort(new Error('unsubscribed'));
      finish();
      // The aborted feed ends at its next check; a generator mid-`await` settles its pending next first.
      await inner.return?.(undefined)?.catch(() => {});
      return done();
    },
  };
}
