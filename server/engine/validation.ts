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
 * members, NaN, BigInt, class instances or cycles) and returns its JSON form.
 */
export function toJson(value: unknown, what: string): Json {
  const problem = findNonJson(value, what, new Set());
  if (problem) throw new ValidationError(`${problem}. Arguments and results must be JSON: plain objects, arrays, strings, finite numbers, booleans and null.`);
  return value as Json;
}

function findNonJson(value: unknown, path: string, seen: Set<object>): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${path} is ${value}, which JSON cannot hold`;
    case 'object': {
      if (value === null) return undefined;
      if (seen.has(value)) return `${path} refers back to itself (a cycle)`;
      seen.add(value);
      try {
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length; i++) {
            const problem = findNonJson(value[i], `${path}[${i}]`, seen);
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
          const problem = findNonJson(member, `${path}.${key}`, seen);
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
