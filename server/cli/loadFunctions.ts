import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DurableFunction } from '../engine/registry.js';
import type { Senpuki } from '../engine/senpuki.js';
import { ValidationError } from '../errors.js';
import { importUserModule, RUNNING_FROM_SOURCE } from './typescriptLoader.js';

/** The example functions `npm start` serves when no module is named (compiled beside the CLI in the package). */
export const EXAMPLES_MODULE = fileURLToPath(new URL(`../../examples/index.${RUNNING_FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url));

/** Arguments to pre-fill the dashboard's dispatch form with, by function name. */
export type ExampleArgs = Record<string, unknown[]>;

/** What the modules registered. */
export interface LoadedFunctions {
  /** Every registered function name, sorted. */
  names: string[];
  /** The modules' optional `exampleArgs` exports, merged (for registered functions only). */
  exampleArgs: ExampleArgs;
}

/** A functions module's optional default export: registers functions itself. */
type Registrar = (senpuki: Senpuki) => void | Promise<void>;

function isDurableFunction(value: unknown): value is DurableFunction {
  const candidate = value as Partial<DurableFunction> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.name === 'string' &&
    typeof candidate.body === 'function' &&
    typeof candidate.retry === 'object'
  );
}

/**
 * Registers the durable functions of each module: every export made with `defineDurable`, and a
 * default export `(senpuki) => void` if there is one. A module that provides neither is an error.
 * An optional `exampleArgs` export (`{ [functionName]: args[] }`) is collected for the dashboard.
 */
export async function registerFunctionModules(senpuki: Senpuki, modulePaths: string[]): Promise<LoadedFunctions> {
  const exampleArgs: ExampleArgs = {};
  for (const modulePath of modulePaths) {
    let exports: Record<string, unknown>;
    try {
      exports = await importUserModule(resolve(modulePath));
    } catch (error) {
      if (error instanceof ValidationError) throw error;
      throw new ValidationError(`Could not load functions module ${modulePath}: ${(error as Error).message}`);
    }
    const before = senpuki.registry.names().length;
    const functions = Object.values(exports).filter(isDurableFunction);
    senpuki.register(...functions);
    if (typeof exports.default === 'function') await (exports.default as Registrar)(senpuki);
    if (senpuki.registry.names().length === before && functions.length === 0) {
      throw new ValidationError(
        `${modulePath} registers no durable function: export functions made with defineDurable(name, fn), ` +
          'or export default (senpuki) => { senpuki.durable(...) }',
      );
    }
    Object.assign(exampleArgs, readExampleArgs(exports.exampleArgs, modulePath));
  }
  const names = senpuki.registry.names().sort();
  return { names, exampleArgs: Object.fromEntries(Object.entries(exampleArgs).filter(([name]) => names.includes(name))) };
}

function readExampleArgs(value: unknown, modulePath: string): ExampleArgs {
  if (value === undefined) return {};
  const valid =
    typeof value === 'object' && value !== null && Object.values(value).every((args) => Array.isArray(args));
  if (!valid) {
    throw new ValidationError(
      `${modulePath}: exampleArgs must map function names to argument arrays, e.g. { placeOrder: ['order-1', []] }`,
    );
  }
  return value as ExampleArgs;
}
