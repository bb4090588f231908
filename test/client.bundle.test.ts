import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bundleForBrowser, CLIENT_DIR } from './helpers/bundle.js';

/** References (not strings) to Node globals a browser does not have. */
const NODE_GLOBALS = [/(?<!["'.\w])process\s*[.[]/, /(?<!["'.\w])Buffer\s*[.(]/, /(?<!["'.\w])require\s*\(/, /(?<!["'.\w])__dirname\b/];

describe('SDK in the browser', () => {
  it('no client/ module imports server/ or node:* (it must bundle for browsers as is)', async () => {
    for (const file of await readdir(CLIENT_DIR)) {
      if (!file.endsWith('.ts')) continue;
      const source = await readFile(join(CLIENT_DIR, file), 'utf8');
      for (const [, specifier] of source.matchAll(/\bfrom\s+'([^']+)'/g)) {
        assert.ok(!specifier!.startsWith('node:') && !specifier!.includes('server/'), `${file} imports ${specifier}`);
      }
    }
  });

  // react and urql are peer dependencies of the React entry: the app bundles them (and their own
  // guarded `typeof process` checks) itself.
  for (const [entry, external] of [['index.ts', []], ['react.ts', ['react', 'urql']]] as const) {
    it(`client/${entry} bundles with esbuild for platform browser without Node built-ins`, async () => {
      const bundle = await bundleForBrowser({ path: join(CLIENT_DIR, entry) }, [...external]);
      assert.deepEqual(bundle.warnings, []);
      const nodeInputs = bundle.inputs.filter((input) => input.startsWith('node:') || /(^|\/)server\//.test(input) || input.includes('node_modules/ws/'));
      assert.deepEqual(nodeInputs, []);
      // Only the client-side half of graphql-ws, and no graphql-js: the SDK parses with graphql.web.
      assert.ok(!bundle.inputs.some((input) => input.includes('node_modules/graphql/')), 'graphql-js is not bundled');
      for (const pattern of NODE_GLOBALS) {
        const match = pattern.exec(bundle.code);
        assert.equal(match, null, `the bundle references ${pattern}: …${match ? bundle.code.slice(Math.max(0, match.index - 80), match.index + 40) : ''}…`);
      }
    });
  }
});
