/**
 * `npm run schema`: writes the sorted SDL to schema.graphql at the repository root, the file the
 * client SDK generates its types from. test/graphql.schema.test.ts fails when it is stale.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { printSortedSchema } from './index.js';

/** Absolute path of the committed schema file. */
export const SCHEMA_FILE = fileURLToPath(new URL('../../schema.graphql', import.meta.url));

/** Writes the current schema to `SCHEMA_FILE`. */
export async function writeSchemaFile(path = SCHEMA_FILE): Promise<void> {
  await writeFile(path, printSortedSchema());
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeSchemaFile();
  console.log(`wrote ${SCHEMA_FILE}`);
}
