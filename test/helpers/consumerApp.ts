import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './cli.js';

/** What a finished command printed, and its exit code. */
export interface CommandRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a child outside the repository: no test runner protocol, no loader, no shared services. */
export function consumerEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _testContext, NODE_OPTIONS: _options, DATABASE_URL: _db, REDIS_URL: _redis, SENPUKI_URL: _url, ...inherited } = process.env;
  return { ...inherited, NO_COLOR: '1', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...env };
}

/** Runs a command to its end; never rejects (the exit code says how it went). */
export function run(command: string, args: string[], cwd: string, env: Record<string, string | undefined> = {}, timeoutMs = 300_000): Promise<CommandRun> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: consumerEnv(env), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Like `run`, but rejects with the output when the command fails. */
export async function runOk(command: string, args: string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<CommandRun> {
  const result = await run(command, args, cwd, env);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** The version of a package the repository has installed (the consumer app gets the same ones). */
async function installedVersion(name: string): Promise<string> {
  const manifest = createRequire(join(ROOT, 'package.json')).resolve(`${name}/package.json`);
  return (JSON.parse(await readFile(manifest, 'utf8')) as { version: string }).version;
}

/** Builds the package and packs it into `destination`; returns the tarball's path. */
export async function buildAndPack(destination: string): Promise<string> {
  await runOk(process.execPath, ['--import', 'tsx', 'scripts/build.ts'], ROOT);
  // The build just ran; prepack would run it again and mix its output into the JSON.
  const { stdout } = await runOk('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', destination], ROOT);
  const [packed] = JSON.parse(stdout) as { filename: string }[];
  return join(destination, packed!.filename);
}

/**
 * A fresh app in the system's temporary folder, as a user would make one: `npm install` of the
 * tarball, tsx (to load a TypeScript functions module), the React peers, and @types/node.
 */
export async function createConsumerApp(tarball: string): Promise<string> {
  const app = await mkdtemp(join(tmpdir(), 'senpuki-consumer-'));
  await writeFile(join(app, 'package.json'), `${JSON.stringify({ name: 'senpuki-consumer', private: true, type: 'module' }, null, 2)}\n`);
  const peers = await Promise.all(['tsx', 'react', 'urql', '@types/node', '@types/react'].map(async (name) => `${name}@${await installedVersion(name)}`));
  await runOk('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...peers], app);
  return app;
}
