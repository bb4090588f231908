import type { Progress, StoredError } from '../domain/types.js';
import { ValidationError } from '../errors.js';
import { builder } from './builder.js';

/** A stored error as clients see it: never the stack, which would show server paths. */
export const ErrorInfoRef = builder.objectRef<StoredError>('ErrorInfo').implement({
  description: 'Why an execution or task failed.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The error class name, e.g. "TypeError" or "NonRetryableError".' }),
    message: t.exposeString('message'),
    data: t.field({ type: 'JSON', nullable: true, description: 'Data attached to the error (NonRetryableError data).', resolve: (error) => error.data ?? null }),
  }),
});

export const ProgressRef = builder.objectRef<Progress>('Progress').implement({
  fields: (t) => ({
    done: t.exposeFloat('done'),
    total: t.exposeFloat('total'),
    message: t.exposeString('message', { nullable: true }),
  }),
});

export interface PageInfoShape {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

export const PageInfoRef = builder.objectRef<PageInfoShape>('PageInfo').implement({
  description: 'Relay page info; pass `endCursor` as `after` to get the next page.',
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
    startCursor: t.exposeString('startCursor', { nullable: true }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

/** An opaque cursor: base64url of JSON, so clients do not build or parse them. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Decodes a cursor made by `encodeCursor`; undefined when it is not one. */
export function decodeCursor(cursor: string): unknown {
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Checks `first` against 1..max. */
export function checkPageSize(first: number | null | undefined, fallback: number, max: number, field: string): number {
  const size = first ?? fallback;
  if (!Number.isInteger(size) || size < 1 || size > max) {
    throw new ValidationError(`${field}(first:) must be an integer from 1 to ${max}; got ${size}`);
  }
  return size;
}
