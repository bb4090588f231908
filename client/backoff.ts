/** First wait before a reconnect or resubscribe. */
export const DEFAULT_RETRY_INITIAL_DELAY_MS = 250;
/** Longest wait between two attempts. */
export const DEFAULT_RETRY_MAX_DELAY_MS = 10_000;
export const DEFAULT_RETRY_BACKOFF_FACTOR = 2;
/** Fraction of each wait removed at random, so a restarted server is not hit by every client at once. */
export const DEFAULT_RETRY_JITTER = 0.5;

/** How long to wait between attempts to reconnect a dropped connection or resubscribe. */
export interface RetryOptions {
  initialDelayMs?: number;
  maxDelayMs?: number;
  backoffFactor?: number;
  /** 0 = exact delays; 0.5 = each delay is 50-100% of the computed one. */
  jitter?: number;
}

/** The wait before attempt number `attempt` (0 = the first retry). */
export function retryDelayMs(attempt: number, options: RetryOptions = {}): number {
  const initial = options.initialDelayMs ?? DEFAULT_RETRY_INITIAL_DELAY_MS;
  const max = options.maxDelayMs ?? DEFAULT_RETRY_MAX_DELAY_MS;
  const factor = options.backoffFactor ?? DEFAULT_RETRY_BACKOFF_FACTOR;
  const jitter = options.jitter ?? DEFAULT_RETRY_JITTER;
  const delay = Math.min(max, initial * factor ** Math.max(0, attempt));
  return Math.round(delay * (1 - jitter * Math.random()));
}
