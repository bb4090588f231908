/**
 * Runs every bench/*.ts except this file, one after another (never in parallel: they would skew
 * each other's numbers), each in its own `node --import tsx` process. Exits non-zero if any failed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const self = basename(fileURLToPath(import.meta.url));

/** The bench files to run, in name order. */
export async function benchFiles(): Promise<string[]> {
  const names = await readdir(here);
  return names.filter((name) => name.endsWith('.ts') && name !== self).sort().map((name) => join(here, name));
}

async function runAll(): Promise<number> {
  const failed: string[] = [];
  for (const file of await benchFiles()) {
    console.log(`\n=== ${basename(file)} ===`);
    const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: 'inherit', env: process.env });
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    if (code !== 0) failed.push(`${basename(file)} (${signal ?? `exit ${code}`})`);
  }
  if (failed.length > 0) console.error(`\nfailed: ${failed.join(', ')}`);
  return failed.length === 0 ? 0 : 1;
}

process.exitCode = await runAll();
