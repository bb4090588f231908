import { GraphQLError, Kind, valueFromASTUntyped, type ValueNode } from 'graphql';
import { SenpukiError } from '../errors.js';
import { toMs } from '../engine/validation.js';
import { builder } from './builder.js';

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

function badInput(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

builder.scalarType('JSON', {
  description: 'Any JSON value: object, array, string, number, boolean or null.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast: ValueNode, variables?: Record<string, unknown> | null) => valueFromASTUntyped(ast, variables),
});

builder.scalarType('DateTime', {
  description: 'A point in time as an ISO 8601 string with a time zone, e.g. "2025-01-31T12:00:00.000Z".',
  serialize: (value) => {
    const date = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime cannot represent an invalid date');
    return date.toISOString();
  },
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : undefined),
});

function parseDateTime(value: unknown): Date {
  const date = typeof value === 'string' && ISO_DATE_TIME.test(value) ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw badInput(`DateTime must be an ISO 8601 string with a time zone such as "2025-01-31T12:00:00Z"; got ${JSON.stringify(value) ?? 'nothing'}`);
  }
  return date;
}

builder.scalarType('Duration', {
  description: 'A length of time: milliseconds as a number, or a string such as "500ms", "10s", "5m", "2h".',
  serialize: (value) => value,
  parseValue: (value) => parseDuration(value),
  parseLiteral: (ast) => parseDuration(ast.kind === Kind.INT || ast.kind === Kind.FLOAT ? Number(ast.value) : ast.kind === Kind.STRING ? ast.value : undefined),
});

function parseDuration(value: unknown): number {
  try {
    if (typeof value !== 'number' && typeof value !== 'string') throw new SenpukiError('BAD_USER_INPUT', 'Duration must be a number of milliseconds or a string like "10s"');
    return toMs(value, 'Duration');
  } catch (error) {
    throw badInput(error instanceof Error ? error.message : String(error));
  }
}
