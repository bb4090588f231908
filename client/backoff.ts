/**
 * The one capped exponential backoff, counted the same way everywhere: retry 1 is the first wait.
 * Used by task retries, store retries, reconnects of the LISTEN connection and the SDK's
 * reconnects and resubscribes. Here, with the SDK, because client/ must bundle for browsers on its
 * own, and the server may import from it.
 */
export interface Backoff {
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** Fraction of each wait drawn at random, so many retrying parties do not move in lockstep. */
  jitter: number;
  /**
   * `around`: anywhere within ±jitter of the computed wait (task retries); `below`: up to `jitter`
   * less, never more (reconnects, where the maximum is a promise to the operator).
   */
  spread: 'around' | 'below';
}

/** The wait before retry number `retry` (1 = the first retry): initial × factor^(retry-1), capped, then jittered. */
export function backoffDelayMs(retry: number, backoff: Backoff, random: () => number = Math.random): number {
  const base = Math.min(backoff.maxDelayMs, backoff.initialDelayMs * backoff.factor ** Math.max(0, retry - 1));
  const offset = backoff.spread === 'around' ? base * backoff.jitter * (random() * 2 - 1) : -base * backoff.jitter * random();
  return Math.max(0, Math.round(Math.min(backoff.maxDelayMs, base + offset)));
}

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

/** The wait before reconnect or resubscribe number `retry` (1 = the first). */
export function reconnectDelayMs(retry: number, options: RetryOptions = {}): number {
  return backoffDelayMs(retry, {
    initialDelayMs: options.initialDelayMs ?? DEFAULT_RETRY_INITIAL_DELAY_MS,
    maxDelayMs: options.maxDelayMs ?? DEFAULT_RETRY_MAX_DELAY_MS,
    factor: options.backoffFactor ?? DEFAULT_RETRY_BACKOFF_FACTOR,
    jitter: options.jitter ?? DEFAULT_RETRY_JITTER,
    spread: 'below',
  });
}
