import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { waitFor } from './conditions.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/senpuki.js', import.meta.url));

/** The environment of a CLI child: ours, without the test runner's (a child that inherits it speaks its protocol). */
function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _testContext, SENPUKI_URL: _url, SENPUKI_API_KEY: _key, DATABASE_URL: _db, REDIS_URL: _redis, ...inherited } = process.env;
  return { ...inherited, NO_COLOR: '1', ...env };
}

/** How to start `senpuki`: by default `node bin/senpuki.js` in the repository. */
export interface SenpukiCommand {
  command: string;
  args: string[];
  cwd: string;
  /**
   * The command starts `senpuki` as a child of its own (npx does) and does not pass signals on:
   * run it in a process group and signal the whole group.
   */
  processGroup?: boolean;
}

const REPOSITORY_CLI: SenpukiCommand = { command: process.execPath, args: [BIN], cwd: ROOT };

/** What a finished CLI run printed, and its exit code. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/senpuki.js ...args` (or another `cli`) to its end (stdout and stderr are pipes: no TTY). */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000, cli: SenpukiCommand = REPOSITORY_CLI): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(cli.command, [...cli.args, ...args], { cwd: cli.cwd, env: childEnv(env), timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A `senpuki serve` or `senpuki worker` child process. */
export interface CliChild {
  readonly process: ChildProcess;
  /** Everything it printed on stdout so far. */
  readonly output: () => string;
  /** Everything it printed on stderr so far. */
  readonly errors: () => string;
  /** SIGTERM (a graceful stop), then SIGKILL after `timeoutMs`; resolves with the exit code once its output has closed. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** A `senpuki serve` child process. */
export interface ServeChild extends CliChild {
  /** Its GraphQL URL, from the banner. */
  readonly graphqlUrl: string;
}

/** Starts `senpuki serve ...args` and waits for the banner with its URLs. */
export async function startServeChild(args: string[], env: Record<string, string | undefined> = {}, cli: SenpukiCommand = REPOSITORY_CLI): Promise<ServeChild> {
  let graphqlUrl = '';
  const child = await startCliChild('serve', args, env, cli, (stdout) => (graphqlUrl = /GraphQL\s+(http:\/\/\S+\/graphql)/.exec(stdout)?.[1] ?? '') !== '');
  return Object.assign(child, { graphqlUrl });
}

/** Starts `senpuki worker ...args` and waits until it says it runs. */
export function startWorkerChild(args: string[], env: Record<string, string | undefined> = {}, cli: SenpukiCommand = REPOSITORY_CLI): Promise<CliChild> {
  return startCliChild('worker', args, env, cli, (stdout) => /^worker \S+ running/m.test(stdout));
}

async function startCliChild(
  command: 'serve' | 'worker',
  args: string[],
  env: Record<string, string | undefined>,
  cli: SenpukiCommand,
  ready: (stdout: string) => boolean,
): Promise<CliChild> {
  const child = spawn(cli.command, [...cli.args, command, ...args], {
    cwd: cli.cwd,
    env: childEnv({ SENPUKI_LOG_LEVEL: 'warn', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: cli.processGroup ?? false,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Resolves when the process (and, for a group, its last descendant) has ended; stdout closes then.
  const ended = Promise.all([once(child, 'exit'), once(child.stdout!, 'close')]);
  const signal = (name: NodeJS.Signals) => {
    try {
      if (cli.processGroup) process.kill(-child.pid!, name);
      else child.kill(name);
    } catch {
      // Already gone.
    }
  };
  const stop = async (timeoutMs = 15_000) => {
    if (child.exitCode === null && child.signalCode === null) signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), timeoutMs);
    await ended;
    clearTimeout(timer);
    return child.exitCode;
  };
  try {
    const started = await waitFor(
      () => (child.exitCode !== null || child.signalCode !== null ? 'exited' : ready(stdout) ? 'ready' : undefined),
      { timeoutMs: 60_000, intervalMs: 50, message: `senpuki ${command} to be ready` },
    );
    if (started === 'exited') throw new Error(`senpuki ${command} exited with ${child.exitCode ?? child.signalCode} before it was ready:\n${stderr}`);
    return { process: child, output: () => stdout, errors: () => stderr, stop };
  } catch (error) {
    await stop(1000);
    throw error;
  }
}
