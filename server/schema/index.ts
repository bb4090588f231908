import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import './scalars.js';
import './common.js';
import './execution.js';
import './executionList.js';
import './task.js';
import './functions.js';
import './dispatch.js';
import './deadLetter.js';
import './signal.js';
import './stream.js';
import './worker.js';

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

/** The API's schema, built once from the domain files above. */
export const schema: GraphQLSchema = builder.toSchema({ sortSchema: true });

/** The schema as SDL, sorted, as committed in `schema.graphql`. */
export function printSortedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

export type { SchemaContext, ReadTokenIssuer, LiveContext } from './builder.js';
export type { Principal } from './access.js';
export { createErrorMasker, MASKED_ERROR_MESSAGE } from './errors.js';
