/**
 * The dashboard's browser bundle (client/dashboard/ → app.js + app.css). The package build writes
 * it to dist/dashboard/, and an installed server reads it from there; a clone of the repository
 * has no build, so there the server bundles the source with esbuild (a devDependency) instead.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The dashboard's entry module in the source tree. */
export const DEFAULT_DASHBOARD_ENTRY = fileURLToPath(new URL('../../client/dashboard/main.ts', import.meta.url));
/** Where the package build puts the bundle: dist/dashboard/, beside dist/server/. */
export const PREBUILT_DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));
/** The files of a bundle, by name. */
export const DASHBOARD_FILES = ['app.js', 'app.css'] as const;

/** One output file of the bundle. */
export interface DashboardFile {
  name: string;
  text: string;
}

/** Bundles the dashboard for browsers with esbuild (minified, ESM, no Node built-ins). */
export async function bundleDashboard(entry: string = DEFAULT_DASHBOARD_ENTRY): Promise<DashboardFile[]> {
  // Imported here: esbuild starts a helper process, and an installed package does not have it.
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new Error(
      `the prebuilt dashboard is missing (${PREBUILT_DASHBOARD_DIR}) and esbuild is not installed to bundle ${entry}; ` +
        'reinstall senpuki, or run `npm run build` in a clone of the repository',
    );
  }
  const result = await esbuild.build({
    entryPoints: { app: entry },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    outdir: '/dashboard-out',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  return result.outputFiles.map((file) => ({ name: file.path.slice(file.path.lastIndexOf('/') + 1), text: file.text }));
}

/** The bundle the package build wrote, or undefined when there is none (a source checkout). */
export async function readPrebuiltDashboard(dir: string = PREBUILT_DASHBOARD_DIR): Promise<DashboardFile[] | undefined> {
  try {
    return await Promise.all(DASHBOARD_FILES.map(async (name) => ({ name, text: await readFile(`${dir}${name}`, 'utf8') })));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The prebuilt bundle when there is one, else `entry` bundled now. */
export async function loadDashboard(entry?: string): Promise<DashboardFile[]> {
  if (entry === undefined) {
    const prebuilt = await readPrebuiltDashboard();
    if (prebuilt) return prebuilt;
  }
  return bundleDashboard(entry);
}
