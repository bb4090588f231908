import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
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

  it('is regenerated together with the client types by `npm run schema`', async () => {
    const { scripts } = JSON.parse(await readFile(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { scripts: Record<string, string> };
    const steps = scripts.schema!.split('&&').map((step) => step.trim());
    assert.deepEqual(steps, ['tsx server/schema/writeSchema.ts', 'npm run client:types'], 'the schema first, then the types generated from it');
    assert.match(scripts['client:types']!, /^gql\.tada generate-output\b/);
  });
});
