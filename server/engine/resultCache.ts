import { createHash } from 'node:crypto';
import type { Json } from '../domain/types.js';

/**
 * A stable hash of JSON arguments: object keys are sorted first, so `{a, b}` and `{b, a}` hit the
 * same cached result.
 */
export function argsHash(args: Json[]): string {
  return createHash('sha256').update(stableJson(args)).digest('hex');
}

function stableJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${stableJson(value[key]!)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
