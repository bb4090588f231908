import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLIENT_DIR } from './helpers/bundle.js';

const run = promisify(execFile);
const ROOT = join(CLIENT_DIR, '..');

describe('SDK generated types', () => {
  it('graphql-env.d.ts matches schema.graphql (run `npm run client:types` when this fails)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'senpuki-types-'));
    try {
      const output = join(dir, 'graphql-env.d.ts');
      await run(process.execPath, [join(ROOT, 'node_modules/gql.tada/bin/cli.js'), 'generate-output', '--tsconfig', join(CLIENT_DIR, 'tsconfig.json'), '--output', output], { cwd: ROOT });
      const [fresh, committed] = await Promise.all([readFile(output, 'utf8'), readFile(join(CLIENT_DIR, 'graphql-env.d.ts'), 'utf8')]);
      assert.ok(committed === fresh, 'client/graphql-env.d.ts is stale relative to schema.graphql: run `npm run client:types`');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('every document typechecks against the schema, with browser types only (no @types/node)', async () => {
    // client/tsconfig.json has types: [], so a use of process, Buffer or node:* fails here too.
    const result = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', join(CLIENT_DIR, 'tsconfig.json')], { cwd: ROOT }).catch(
      (error: { stdout?: string }) => ({ stdout: error.stdout ?? String(error) }),
    );
    assert.equal(result.stdout.trim(), '');
  });
});
