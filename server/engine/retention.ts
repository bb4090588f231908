import { ValidationError } from '../errors.js';
import type { PurgeCounts, RetentionAges, Store } from '../store/store.js';
import type { Duration } from '../domain/types.js';
import { describe, toMs } from './validation.js';

export const DEFAULT_RETENTION_INTERVAL_MS = 60_000;
export const DEFAULT_RETENTION_BATCH_SIZE = 100;

/**
 * What old rows workers remove (`new Senpuki({ retention })` or `serve({ retention })`). Without
 * an age, those rows are kept forever. One worker at a time runs it, a batch at a time.
 */
export interface RetentionOptions {
  /** Finished executions (completed, failed, cancelled, timed_out) older than this, with their tasks and signals. A failed execution is kept while it has dead letters. */
  completedMs?: Duration;
  /** Dead letters older than this. */
  deadLettersMs?: Duration;
  /** Idempotency keys of finished executions dispatched longer ago than this (the key can then start a new execution). */
  idempotencyKeysMs?: Duration;
  /** Rows of each kind per batch (one transaction). Default 100. */
  batchSize?: number;
  /** How often a worker looks for expired rows. Default 1 minute. */
  intervalMs?: Duration;
}

export interface RetentionPolicy {
  ages: RetentionAges;
  batchSize: number;
  intervalMs: number;
}

/** Checks retention options; undefined when they remove nothing. */
export function toRetentionPolicy(options: RetentionOptions | undefined): RetentionPolicy | undefined {
  if (!options) return undefined;
  const age = (value: Duration | undefined, what: string) => (value === undefined ? undefined : toMs(value, `retention.${what}`));
  const ages: RetentionAges = {
    completedMs: age(options.completedMs, 'completedMs'),
    deadLettersMs: age(options.deadLettersMs, 'deadLettersMs'),
    idempotencyKeysMs: age(options.idempotencyKeysMs, 'idempotencyKeysMs'),
  };
  const batchSize = options.batchSize ?? DEFAULT_RETENTION_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new ValidationError(`retention.batchSize must be an integer from 1 to 10000; got ${describe(batchSize)}`);
  }
  const intervalMs = toMs(options.intervalMs ?? DEFAULT_RETENTION_INTERVAL_MS, 'retention.intervalMs');
  return { ages, batchSize, intervalMs };
}

/** Runs retention from a worker's maintenance tick, at most once per interval. */
export class RetentionRunner {
  private nextRunAt: number;

  constructor(private readonly policy: RetentionPolicy) {
    // Workers started together spread their first runs over one interval.
    this.nextRunAt = Date.now() + Math.random() * Math.min(policy.intervalMs, 5000);
  }

  async tick(store: Store): Promise<(PurgeCounts & { skipped: boolean }) | undefined> {
    if (Date.now() < this.nextRunAt) return undefined;
    this.nextRunAt = Date.now() + this.policy.intervalMs * (0.8 + Math.random() * 0.4);
    return store.purgeExpired(this.policy.ages, this.policy.batchSize);
  }
}
