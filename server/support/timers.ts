/**
 * Timers shared by every layer: delays that an abort or a wake cuts short, and races of a promise
 * against a deadline. Nothing here keeps the process alive longer than the wait it was asked for.
 */

/** Node fires longer timers after 1 ms; longer delays are waited out in steps of this. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Resolves after `ms` (or at most MAX_TIMER_MS: callers that wait longer loop and re-measure), or
 * rejects with the signal's reason as soon as it is aborted.
 */
export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  ms = Math.min(ms, MAX_TIMER_MS);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Like AbortSignal.timeout, for any duration (AbortSignal.timeout fires at once past ~24.8 days). */
export function timeoutSignal(ms: number): AbortSignal {
  const controller = new AbortController();
  const deadline = Date.now() + ms;
  const arm = () => {
    const left = deadline - Date.now();
    if (left <= 0) return controller.abort(new DOMException('The operation timed out.', 'TimeoutError'));
    setTimeout(arm, Math.min(left, MAX_TIMER_MS)).unref();
  };
  arm();
  return controller.signal;
}

/** Resolves after `ms`, without keeping the process alive. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Resolves after `ms`, or as soon as the function handed to `setWake` is called. */
export function delayOrWake(ms: number, setWake: (wake: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    setWake(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Resolves at the next turn of the event loop, after pending I/O callbacks and timers. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Thrown by `rejectAfter` when the promise did not settle in time. */
export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

/**
 * Settles as `promise` does, or rejects with a DeadlineError(`message`) once `ms` passed first.
 * The timer is not unref'd: whoever awaits this must not hang because nothing else keeps the
 * process alive; it is cleared as soon as the promise settles.
 */
export function rejectAfter<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(message)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Resolves once `promise` settles (true) or once `ms` passed (false), whichever comes first; never
 * rejects: for bounded waits on shutdown, where giving up is the fallback, not an error.
 */
export function settleWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, deadline]).finally(() => clearTimeout(timer));
}
