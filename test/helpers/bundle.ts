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
