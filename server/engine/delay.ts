/** Node fires longer timers after 1 ms; longer delays are waited out in steps of this. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Resolves after `ms` (or at most MAX_TIMER_MS: callers that wait longer loop and re-measure), or
 * rejects with the signal's reason as soon as it is aborted.
 */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  ms = Math.min(ms, MAX_TIMER_MS);
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
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
