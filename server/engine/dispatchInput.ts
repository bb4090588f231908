import { randomUUID } from 'node:crypto';
import { SenpukiError, ValidationError } from '../errors.js';
import type { NewExecution } from '../store/store.js';
import { checkPriority, checkQueue, checkTags, type DurableFunction, type Registry } from './registry.js';
import type { Duration, Json } from '../domain/types.js';
import { checkText, describe, toJson, toMs } from './validation.js';

/** Longest idempotency key. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 500;
/** Most executions one `dispatchMany` may start. */
export const DEFAULT_MAX_DISPATCH_BATCH = 1000;
/** Item errors a `DispatchBatchError` message spells out (all of them are in `items`). */
const MAX_ITEM_ERRORS_IN_MESSAGE = 10;

export interface DispatchOptions {
  queue?: string;
  tags?: string[];
  priority?: number;
  /** Start no earlier than this from now. */
  delay?: Duration;
  /** The execution ends as `timed_out` when it runs longer (counted from its scheduled start). */
  maxDuration?: Duration;
  /** A second dispatch with the same key returns the first execution instead of starting another. */
  idempotencyKey?: string;
}

/** One execution of `dispatchMany`. */
export interface DispatchItem {
  fn: DurableFunction | string;
  args?: unknown[];
  options?: DispatchOptions;
}

/** Which items of a `dispatchMany` could not be dispatched, and why; none of the batch was. */
export class DispatchBatchError extends ValidationError {
  override name = 'DispatchBatchError';
  constructor(
    readonly items: Array<{ index: number; message: string }>,
    total: number,
  ) {
    const listed = items.slice(0, MAX_ITEM_ERRORS_IN_MESSAGE).map((item) => `items[${item.index}]: ${item.message}`);
    const more = items.length > listed.length ? `; and ${items.length - listed.length} more` : '';
    super(`${items.length} of ${total} items are invalid, so none was dispatched. ${listed.join('; ')}${more}`);
  }

  /** What GraphQL adds to the error's `extensions`. */
  get details(): { items: Array<{ index: number; message: string }> } {
    return { items: this.items };
  }
}

/** The row `dispatch` inserts for `fn(...args)`, or a ValidationError that says what to fix. */
export function toNewExecution(
  registry: Registry,
  fn: DurableFunction | string,
  args: unknown[],
  options: DispatchOptions,
  maxArgsBytes: number,
): NewExecution {
  const definition = registry.resolve(fn);
  if (!Array.isArray(args)) {
    throw new ValidationError(`args must be a JSON array of the arguments of ${definition.name}, e.g. [${describe(args)}] for a function taking one argument`);
  }
  const json = toJson(args, 'args') as Json[];
  const bytes = Buffer.byteLength(JSON.stringify(json));
  if (bytes > maxArgsBytes) {
    throw new ValidationError(`args are ${bytes} bytes of JSON; the limit is ${maxArgsBytes} (maxArgsBytes). Store large data elsewhere and pass a reference (an id or a URL).`);
  }
  if (options.idempotencyKey !== undefined) checkText(options.idempotencyKey, 'idempotencyKey', MAX_IDEMPOTENCY_KEY_LENGTH);
  const maxDurationMs = options.maxDuration === undefined ? undefined : toMs(options.maxDuration, 'maxDuration');
  if (maxDurationMs === 0) throw new ValidationError('maxDuration must be more than 0 (leave it out for no limit)');
  return {
    id: randomUUID(),
    rootTaskId: randomUUID(),
    functionName: definition.name,
    args: json,
    queue: checkQueue(options.queue ?? definition.queue),
    tags: checkTags(options.tags ?? definition.tags),
    priority: checkPriority(options.priority ?? definition.priority),
    idempotencyKey: options.idempotencyKey,
    delayMs: options.delay === undefined ? 0 : toMs(options.delay, 'delay'),
    maxDurationMs,
    maxAttempts: definition.retry.maxAttempts,
  };
}

/**
 * Every item's row, or a DispatchBatchError naming each bad item (by index) and what is wrong
 * with it: a batch is dispatched whole or not at all.
 */
export function toNewExecutions(registry: Registry, items: unknown, maxArgsBytes: number, maxItems = DEFAULT_MAX_DISPATCH_BATCH): NewExecution[] {
  if (!Array.isArray(items)) throw new ValidationError(`dispatchMany takes an array of { fn, args, options }; got ${describe(items)}`);
  if (items.length > maxItems) {
    throw new ValidationError(`dispatchMany takes at most ${maxItems} items at once; got ${items.length}. Split the batch.`);
  }
  const rows: NewExecution[] = [];
  const errors: Array<{ index: number; message: string }> = [];
  items.forEach((item: unknown, index) => {
    try {
      if (typeof item !== 'object' || item === null || !('fn' in item)) {
        throw new ValidationError(`must be an object { fn, args, options }; got ${describe(item)}`);
      }
      const { fn, args = [], options = {} } = item as DispatchItem;
      rows.push(toNewExecution(registry, fn, args, options ?? {}, maxArgsBytes));
    } catch (error) {
      if (!(error instanceof SenpukiError)) throw error; // Bad input (or an unknown function) is the item's; anything else is ours.
      errors.push({ index, message: error.message });
    }
  });
  if (errors.length > 0) throw new DispatchBatchError(errors, items.length);
  return rows;
}
