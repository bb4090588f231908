import { ValidationError, NotFoundError } from '../errors.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
import type { Context } from './context.js';
import type { Duration, Json } from './types.js';
import { MAX_NAME_LENGTH, checkName, describe, toMs } from './validation.js';

export const DEFAULT_QUEUE = 'default';
const NAME = new RegExp(`^[A-Za-z0-9_][A-Za-z0-9_.:\\-/]{0,${MAX_NAME_LENGTH - 1}}$`);

/** Options of `senpuki.durable(name, fn, options)`. Delays accept durations (`'5s'`) or milliseconds. */
export interface DurableOptions {
  retry?: Partial<Omit<RetryPolicy, 'initialDelayMs' | 'maxDelayMs'>> & {
    initialDelayMs?: number | string;
    maxDelayMs?: number | string;
  };
  /** Queue its tasks go to (default `'default'`); workers choose queues with `serve({ queues })`. */
  queue?: string;
  tags?: string[];
  priority?: number;
  /** Shown in the `functions` query and the dashboard. */
  description?: string;
  /**
   * At most this many tasks of the function run at once, across all workers (orchestrators
   * waiting on children count as running). Declare the same value on every worker.
   */
  maxConcurrent?: number;
  /** Reuse a completed result for the same JSON arguments for `ttlMs` instead of running again. */
  cache?: { ttlMs: Duration };
}

/** The body of a durable function: JSON arguments in, JSON result out. */
export type DurableBody<A extends unknown[], R> = (ctx: Context, ...args: A) => Promise<R> | R;

/** A registered durable function: pass it to `dispatch`, `ctx.call` and `ctx.map`. */
export interface DurableFunction<A extends unknown[] = any[], R = unknown> {
  readonly name: string;
  readonly body: DurableBody<A, R>;
  readonly retry: RetryPolicy;
  readonly queue: string;
  readonly tags: string[];
  readonly priority: number;
  readonly description: string | undefined;
  readonly maxConcurrent: number | undefined;
  readonly cache: { readonly ttlMs: number } | undefined;
}

export type ArgsOf<F> = F extends DurableFunction<infer A, any> ? A : never;
export type ResultOf<F> = F extends DurableFunction<any, infer R> ? Awaited<R> : never;

export function defineDurable<A extends unknown[], R>(
  name: string,
  body: DurableBody<A, R>,
  options: DurableOptions = {},
): DurableFunction<A, R> {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new ValidationError(
      `A durable function name must be 1-${MAX_NAME_LENGTH} letters, digits or _ . : - /, starting with a letter, digit or _; got ${describe(name)}`,
    );
  }
  if (typeof body !== 'function') throw new ValidationError(`durable("${name}", fn): fn must be a function`);
  const retry = { ...DEFAULT_RETRY_POLICY, ...options.retry } as RetryPolicy;
  retry.initialDelayMs = toMs(options.retry?.initialDelayMs ?? DEFAULT_RETRY_POLICY.initialDelayMs, `${name}: retry.initialDelayMs`);
  retry.maxDelayMs = toMs(options.retry?.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs, `${name}: retry.maxDelayMs`);
  if (!Number.isInteger(retry.maxAttempts) || retry.maxAttempts < 1) {
    throw new ValidationError(`${name}: retry.maxAttempts must be an integer of at least 1 (1 = no retry); got ${describe(retry.maxAttempts)}`);
  }
  if (!(retry.backoffFactor >= 1)) throw new ValidationError(`${name}: retry.backoffFactor must be at least 1; got ${describe(retry.backoffFactor)}`);
  if (!(retry.jitter >= 0 && retry.jitter <= 1)) throw new ValidationError(`${name}: retry.jitter must be between 0 and 1; got ${describe(retry.jitter)}`);
  if (retry.retryOn !== undefined && !(Array.isArray(retry.retryOn) && retry.retryOn.every((n) => typeof n === 'string'))) {
    throw new ValidationError(`${name}: retry.retryOn must be a list of error names such as ["TimeoutError"]`);
  }
  return Object.freeze({
    name,
    body,
    retry: Object.freeze(retry),
    queue: checkQueue(options.queue ?? DEFAULT_QUEUE),
    tags: checkTags(options.tags ?? []),
    priority: checkPriority(options.priority ?? 0),
    description: options.description,
    maxConcurrent: checkMaxConcurrent(name, options.maxConcurrent),
    cache: options.cache === undefined ? undefined : Object.freeze({ ttlMs: checkCacheTtl(name, options.cache) }),
  });
}

function checkMaxConcurrent(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new ValidationError(`${name}: maxConcurrent must be a positive integer (leave it out for no limit); got ${describe(value)}`);
  }
  return value as number;
}

function checkCacheTtl(name: string, cache: unknown): number {
  const ttl = (cache as { ttlMs?: unknown } | null)?.ttlMs;
  if (ttl === undefined) throw new ValidationError(`${name}: cache needs a ttlMs, e.g. { cache: { ttlMs: '10m' } }`);
  const ttlMs = toMs(ttl as Duration, `${name}: cache.ttlMs`);
  if (ttlMs < 1) throw new ValidationError(`${name}: cache.ttlMs must be at least 1 ms; got ${describe(ttl)}`);
  return ttlMs;
}

export function checkQueue(queue: unknown): string {
  if (typeof queue !== 'string' || !NAME.test(queue)) {
    throw new ValidationError(`A queue name must be 1-${MAX_NAME_LENGTH} letters, digits or _ . : - /; got ${describe(queue)}`);
  }
  return queue;
}

/** Most tags one execution or function may carry. */
export const MAX_TAGS = 50;

export function checkTags(tags: unknown): string[] {
  if (!Array.isArray(tags)) throw new ValidationError(`tags must be a list of strings; got ${describe(tags)}`);
  if (tags.length > MAX_TAGS) throw new ValidationError(`At most ${MAX_TAGS} tags are allowed; got ${tags.length}`);
  tags.forEach((tag, index) => checkName(tag, `tags[${index}]`));
  return [...new Set(tags as string[])];
}

export function checkPriority(priority: unknown): number {
  if (!Number.isInteger(priority) || Math.abs(priority as number) > 1_000_000) {
    throw new ValidationError(`priority must be an integer between -1000000 and 1000000 (higher runs first); got ${describe(priority)}`);
  }
  return priority as number;
}

/** The functions one Senpuki instance knows, by name. */
export class Registry {
  private readonly functions = new Map<string, DurableFunction>();

  add(fn: DurableFunction): void {
    const existing = this.functions.get(fn.name);
    if (existing && existing !== fn) {
      throw new ValidationError(`A durable function named "${fn.name}" is already registered; names must be unique`);
    }
    this.functions.set(fn.name, fn);
  }

  get(name: string): DurableFunction | undefined {
    return this.functions.get(name);
  }

  /** Resolves a function or its name, with a message listing what is registered when unknown. */
  resolve(fnOrName: DurableFunction | string): DurableFunction {
    const name = typeof fnOrName === 'string' ? fnOrName : fnOrName?.name;
    const fn = typeof name === 'string' ? this.functions.get(name) : undefined;
    if (!fn) {
      const known = [...this.functions.keys()].sort();
      throw new NotFoundError(
        `No durable function named ${describe(name)} is registered` +
          (known.length ? `; registered: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}` : '; none is registered yet'),
      );
    }
    return fn;
  }

  list(): DurableFunction[] {
    return [...this.functions.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  names(): string[] {
    return [...this.functions.keys()];
  }
}

