/**
 * Which store errors are the database's weather rather than a bug: the same statement may
 * succeed when sent again (on a fresh connection, once the server is back, after a deadlock
 * victim rolled back). Callers retry these and fail on everything else.
 */

import { backoffDelayMs, type Backoff } from '../../client/backoff.js';
import { abortableDelay } from '../support/timers.js';

/** SQLSTATE classes that say nothing about the statement: connection (08), resources (53), operator intervention (57). */
const TRANSIENT_SQLSTATE_CLASSES = new Set(['08', '53', '57']);
/** Serialization failure and deadlock victim: the transaction was rolled back and may simply run again. */
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01']);
/** Socket-level failures reported by Node. */
const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTCONN']);
/** node-postgres reports a lost or refused connection with these messages and no code. */
const TRANSIENT_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /not queryable/i,
  /connection (is )?(closed|ended)/i,
  /the database system is (starting up|shutting down)/i,
];

/** True when `error` (or its cause) is a database or connection failure worth retrying. */
export function isTransientStoreError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    if (typeof current !== 'object') return false;
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_NODE_CODES.has(code)) return true;
      if (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2))) return true;
    }
    if (typeof message === 'string' && TRANSIENT_MESSAGES.some((pattern) => pattern.test(message))) return true;
  }
  return false;
}

/**
 * Waits before a store operation is sent again after a transient failure: from 50 ms, doubling, to
 * at most 2 s, so a store that is back is found within that.
 */
const STORE_RETRY_BACKOFF: Backoff = { initialDelayMs: 50, maxDelayMs: 2000, factor: 2, jitter: 0.5, spread: 'below' };

export interface StoreRetryOptions {
  /** Stop trying once aborted; the last error is thrown. */
  signal?: AbortSignal;
  /** Called before each wait (for logging). */
  onRetry?: (error: unknown, attempt: number) => void;
  /** Give up after this many tries (default: until `signal` aborts). */
  maxAttempts?: number;
}

/**
 * Runs `operation` until it succeeds, sending it again after each transient store failure (a
 * dropped connection, a failover, a deadlock victim) with capped exponential backoff and jitter,
 * until `signal` aborts. Any other error is thrown at once. Only for idempotent operations: one
 * whose reply was lost may have taken effect.
 */
export async function retryTransient<T>(operation: () => Promise<T>, options: StoreRetryOptions = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isTransientStoreError(error) || options.signal?.aborted || attempt >= (options.maxAttempts ?? Infinity)) throw error;
      options.onRetry?.(error, attempt);
      const aborted = await abortableDelay(backoffDelayMs(attempt, STORE_RETRY_BACKOFF), options.signal).then(
        () => false,
        () => true,
      );
      if (aborted) throw error;
    }
  }
}
