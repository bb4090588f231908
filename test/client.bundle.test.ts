import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertBrowserSafe, bundleForBrowser, CLIENT_DIR } from './helpers/bundle.js';

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
      assertBrowserSafe(await bundleForBrowser({ path: join(CLIENT_DIR, entry) }, [...external]));
    });
  }
});
