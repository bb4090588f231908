/** Parsers for command-line values; each error says what to write instead. */
import { InvalidArgumentError } from 'commander';
import { toMs } from '../../engine/validation.js';

/** A JSON value from the command line. */
export function parseJson(text: string, what: string, example: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`${what} is not valid JSON (${(error as Error).message}); write it like ${example}, in single quotes for the shell`);
  }
}

/** Function arguments: a JSON array, one item per parameter. */
export function parseArgs(text: string): unknown[] {
  const value = parseJson(text, 'json-args', `'["order-1", 2]'`);
  if (!Array.isArray(value)) {
    throw new InvalidArgumentError(`json-args must be a JSON array, one item per parameter: '["order-1", 2]' (for one argument x, write '[x]'); got ${text}`);
  }
  return value;
}

/** An integer within bounds. */
export function integer(min: number, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return value;
  };
}

/** A duration: milliseconds ("1500") or text the server reads ("10s", "5m", "2h"). */
export function duration(text: string): number | string {
  return /^\d+$/.test(text.trim()) ? Number(text) : text.trim();
}

/** A duration parsed here, in milliseconds ("1500", "10s", "5m"), of at least `minMs`. */
export function durationMs(what: string, minMs: number) {
  return (text: string): number => {
    let value: number;
    try {
      value = toMs(/^\d+$/.test(text.trim()) ? Number(text) : text.trim(), what);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
    if (value < minMs) throw new InvalidArgumentError(`${what} must be at least ${minMs} ms; got ${text}`);
    return value;
  };
}

/** "a,b, c" → ["a", "b", "c"]. */
export function list(text: string, previous: string[] = []): string[] {
  return [...previous, ...text.split(',').map((item) => item.trim()).filter(Boolean)];
}
