import { NonRetryableError } from '../errors.js';
import { backoffDelayMs } from '../../client/backoff.js';

/** How a task is retried after it throws. Attempts count the first run: maxAttempts 1 = no retry. */
export interface RetryPolicy {
  maxAttempts: number;
  initialDelayMs: number;
  backoffFactor: number;
  maxDelayMs: number;
  /** Fraction of the delay added or removed at random (0.1 = ±10%), so retries of many tasks spread out. */
  jitter: number;
  /** Retry only errors with these names; others fail at once. Default: every error. */
  retryOn?: string[];
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 1,
  initialDelayMs: 1000,
  backoffFactor: 2,
  maxDelayMs: 60_000,
  jitter: 0.1,
};

/** Name of the stored error a child hands to its parent when it ended with NonRetryableError. */
const NON_RETRYABLE = 'NonRetryableError';

export function isRetryable(policy: RetryPolicy, error: unknown, attempt: number): boolean {
  if (attempt >= policy.maxAttempts) return false;
  if (error instanceof NonRetryableError) return false;
  const name = error instanceof Error ? error.name : 'Error';
  if (name === NON_RETRYABLE) return false;
  return policy.retryOn === undefined || policy.retryOn.includes(name);
}

/** Delay before attempt `attempt + 1`: initial × factor^(attempt-1), capped, then jittered by ±jitter. */
export function taskRetryDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  return backoffDelayMs(attempt, { ...policy, factor: policy.backoffFactor, spread: 'around' }, random);
}
