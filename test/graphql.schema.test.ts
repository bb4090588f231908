import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { buildSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { printSortedSchema } from '../server/schema/index.js';
import { SCHEMA_FILE } from '../server/schema/writeSchema.js';

describe('schema.graphql', () => {
  it('matches the Pothos schema (run `npm run schema` after changing server/schema)', async () => {
    const committed = await readFile(SCHEMA_FILE, 'utf8').catch(() => '');
    assert.ok(committed === printSortedSchema(), 'schema.graphql is stale: run `npm run schema` and commit the result');
  });

  it('is sorted, so regenerating it never reorders lines', async () => {
    const committed = await readFile(SCHEMA_FILE, 'utf8');
    assert.equal(`${printSchema(lexicographicSortSchema(buildSchema(committed)))}\n`, committed);
  });
});
