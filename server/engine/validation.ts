import ms from 'ms';
import { ValidationError } from '../errors.js';
import type { Duration, Json } from './types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Throws a ValidationError unless `id` is a UUID; `what` names it in the message. */
export function assertUuid(id: unknown, what: string): asserts id is string {
  if (typeof id !== 'string' || !UUID.test(id)) {
    throw new ValidationError(`${what} must be a UUID like 3f2c8a9e-1b7d-4c3e-9a51-6d0e2f4b8c17, got ${describe(id)}`);
  }
}

/** Longest name accepted anywhere (functions, queues, tags, signals, counters). */
export const MAX_NAME_LENGTH = 200;
/** Largest page the engine's list calls return. */
export const MAX_LIST_PAGE_SIZE = 1000;
/** Checks the page size of an engine list call. */
export function checkListLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_PAGE_SIZE) {
    throw new ValidationError(`limit must be an integer from 1 to ${MAX_LIST_PAGE_SIZE}; got ${describe(limit)}`);
  }
  return limit;
}
/** Largest page of a GraphQL list (and so of the CLI's tables, which read through it). */
export const MAX_GRAPHQL_PAGE_SIZE = 200;
/** Deepest nesting of arrays and objects in arguments, results, payloads and state. */
export const MAX_JSON_DEPTH = 64;

const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
// With the u flag a well-formed pair is one code point, so only a lone half matches.
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Why `text` cannot be stored as it is (undefined when it can): Postgres holds no NUL, and a lone surrogate is not Unicode. */
export function unstorableText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (\\u0000), which Postgres cannot store';
  if (LONE_SURROGATE.test(text)) return 'contains a lone surrogate (half of a UTF-16 pair), which is not valid Unicode';
  return undefined;
}

/** Checks a name: 1 to MAX_NAME_LENGTH characters, no control characters. */
export function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new ValidationError(`${what} must be a non-empty string of at most ${MAX_NAME_LENGTH} characters; got ${describe(name)}`);
  }
  const problem = unstorableText(name) ?? (CONTROL_CHARACTER.test(name) ? 'contains a control character (a newline, tab, escape …)' : undefined);
  if (problem) throw new ValidationError(`${what} ${problem}; got ${describe(name)}`);
  return name;
}

/** Checks free text (an idempotency key, a filter value): a string Postgres can store, of at most `maxLength` characters. */
export function checkText(text: unknown, what: string, maxLength: number): string {
  if (typeof text !== 'string' || text.length === 0 || text.length > maxLength) {
    throw new ValidationError(`${what} must be a non-empty string of at most ${maxLength} characters; got ${describe(text)}`);
  }
  const problem = unstorableText(text);
  if (problem) throw new ValidationError(`${what} ${problem}; got ${describe(text)}`);
  return text;
}

/** Longest duration accepted anywhere (sleeps, delays, timeouts): ten years. */
export const MAX_DURATION_MS = 10 * 365 * 24 * 3_600_000;

/** Milliseconds from `'10m'`, `'1.5s'`, `'2 hours'` or a number of milliseconds; rejects negatives and more than ten years. */
export function toMs(duration: Duration, what: string): number {
  const value = typeof duration === 'string' ? ms(duration as ms.StringValue) : duration;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ValidationError(`${what} must be a number of milliseconds or a string like "500ms", "10s", "5m", "1h"; got ${describe(duration)}`);
  }
  if (value < 0) throw new ValidationError(`${what} must not be negative; got ${describe(duration)}`);
  if (value > MAX_DURATION_MS) throw new ValidationError(`${what} must be at most ten years; got ${describe(duration)}`);
  return Math.round(value);
}

/**
 * Checks that `value` survives a JSON round trip unchanged in meaning (no functions, undefined
 * members, NaN, BigInt, class instances or cycles), that Postgres can store it (no NUL, no lone
 * surrogates) and that it nests at most MAX_JSON_DEPTH levels; returns its JSON form.
 */
export function toJson(value: unknown, what: string): Json {
  const problem = findNonJson(value, what, new Set(), 0);
  if (problem) throw new ValidationError(`${problem}. Arguments and results must be JSON: plain objects, arrays, strings, finite numbers, booleans and null.`);
  return value as Json;
}

function findNonJson(value: unknown, path: string, seen: Set<object>, depth: number): string | undefined {
  switch (typeof value) {
    case 'string': {
      const problem = unstorableText(value);
      return problem && `${path} ${problem}`;
    }
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${path} is ${value}, which JSON cannot hold`;
    case 'object': {
      if (value === null) return undefined;
      if (seen.has(value)) return `${path} refers back to itself (a cycle)`;
      if (depth >= MAX_JSON_DEPTH) return `${path} nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels`;
      seen.add(value);
      try {
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length; i++) {
            const problem = findNonJson(value[i], `${path}[${i}]`, seen, depth + 1);
            if (problem) return problem;
          }
          return undefined;
        }
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          if (value instanceof Date) return `${path} is a Date; pass date.toISOString() instead`;
          return `${path} is a ${proto?.constructor?.name ?? 'class'} instance, not a plain object`;
        }
        for (const [key, member] of Object.entries(value)) {
          const keyProblem = unstorableText(key);
          if (keyProblem) return `the key ${describe(key)} of ${path} ${keyProblem}`;
          const problem = findNonJson(member, `${path}.${key}`, seen, depth + 1);
          if (problem) return problem;
        }
        return undefined;
      } finally {
        seen.delete(value);
      }
    }
    default:
      return `${path} is ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`}, which JSON cannot hold`;
  }
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (value === undefined) return 'undefined';
  try {
    const text = JSON.stringify(value);
    return text && text.length > 60 ? `${text.slice(0, 60)}…` : String(text);
  } catch {
    return typeof value;
  }
}

/** Checks a stream position (`after`): the last seq a reader has, an integer of at least 0; absent is 0. */
export function checkStreamPosition(after: number | null | undefined, what: string): number {
  if (after === null || after === undefined) return 0;
  if (!Number.isInteger(after) || after < 0) {
    throw new ValidationError(`${what} must be the last seq you have, an integer of at least 0 (0 for the whole stream); got ${describe(after)}`);
  }
  return after;
}
