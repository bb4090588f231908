/**
 * Imports a user's functions module. JavaScript (.js, .mjs, .cjs) needs nothing. TypeScript needs a
 * loader, and the compiled CLI has none of its own: it uses the tsx installed in the user's project
 * (resolved from the module's folder, so `npm install --save-dev tsx` there is all it takes) and
 * registers it once for the process. Run from the repository's source, the CLI is already under tsx.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ValidationError } from '../errors.js';

/** True when this module runs as TypeScript source (a clone of the repository, under tsx). */
export const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');

const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx']);

let registered: Promise<void> | undefined;

/**
 * Registers the tsx that `modulePath`'s project has installed, the way `node --import tsx` does
 * (its main entry installs the hooks); throws saying what to install when there is none.
 */
function registerTsx(modulePath: string): Promise<void> {
  registered ??= (async () => {
    let loader: string;
    try {
      loader = createRequire(modulePath).resolve('tsx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
      throw new ValidationError(
        `${modulePath} is TypeScript, and loading it needs tsx in your project: run \`npm install --save-dev tsx\` there ` +
          '(or compile the module and pass the .js file)',
      );
    }
    await import(pathToFileURL(loader).href);
  })();
  // A failed attempt is retried for the next module (it may live in another project).
  registered.catch(() => (registered = undefined));
  return registered;
}

/** Imports the module at the absolute path `modulePath`, through tsx when it is TypeScript. */
export async function importUserModule(modulePath: string): Promise<Record<string, unknown>> {
  if (!existsSync(modulePath)) throw new ValidationError(`Could not load functions module ${modulePath}: no such file`);
  if (TYPESCRIPT_EXTENSIONS.has(extname(modulePath)) && !RUNNING_FROM_SOURCE) await registerTsx(modulePath);
  return (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
}
