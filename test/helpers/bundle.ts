import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { build, type Message } from 'esbuild';

export const CLIENT_DIR = fileURLToPath(new URL('../../client/', import.meta.url));

export interface BrowserBundle {
  code: string;
  /** Every file that went into the bundle. */
  inputs: string[];
  warnings: Message[];
}

/**
 * Bundles for browsers the way an app's bundler would: platform browser, ESM, and
 * process.env.NODE_ENV defined (as every browser bundler does; urql reads it for dev warnings).
 */
export async function bundleForBrowser(entry: { path: string } | { contents: string; resolveDir: string }, external: string[] = []): Promise<BrowserBundle> {
  const result = await build({
    ...('path' in entry ? { entryPoints: [entry.path] } : { stdin: { contents: entry.contents, resolveDir: entry.resolveDir, loader: 'ts' } }),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    external,
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  return { code: result.outputFiles[0]!.text, inputs: Object.keys(result.metafile.inputs), warnings: result.warnings };
}

/** References (not strings) to Node globals a browser does not have. */
const NODE_GLOBALS = [/(?<!["'.\w])process\s*[.[]/, /(?<!["'.\w])Buffer\s*[.(]/, /(?<!["'.\w])require\s*\(/, /(?<!["'.\w])__dirname\b/];

/** Asserts that a bundle of the SDK holds no Node built-in, server module, `ws` or graphql-js, and no Node global. */
export function assertBrowserSafe(bundle: BrowserBundle): void {
  assert.deepEqual(bundle.warnings, []);
  const nodeInputs = bundle.inputs.filter((input) => input.startsWith('node:') || /(^|\/)server\//.test(input) || input.includes('node_modules/ws/'));
  assert.deepEqual(nodeInputs, []);
  // Only the client-side half of graphql-ws, and no graphql-js: the SDK parses with graphql.web.
  assert.ok(!bundle.inputs.some((input) => input.includes('node_modules/graphql/')), 'graphql-js is not bundled');
  for (const pattern of NODE_GLOBALS) {
    const match = pattern.exec(bundle.code);
    assert.equal(match, null, `the bundle references ${pattern}: …${match ? bundle.code.slice(Math.max(0, match.index - 80), match.index + 40) : ''}…`);
  }
}
