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

/** What a finished CLI run printed, and its exit code. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/senpuki.js ...args` to its end (stdout and stderr are pipes: no TTY). */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv(env), timeout: timeoutMs }, (error, stdout, stderr) => {
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
  /** SIGTERM (a graceful stop), then SIGKILL after `timeoutMs`; resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** A `senpuki serve` child process. */
export interface ServeChild extends CliChild {
  /** Its GraphQL URL, from the banner. */
  readonly graphqlUrl: string;
}

/** Starts `node bin/senpuki.js serve ...args` and waits for the banner with its URLs. */
export async function startServeChild(args: string[], env: Record<string, string | undefined> = {}): Promise<ServeChild> {
  let graphqlUrl = '';
  const child = await startCliChild('serve', args, env, (stdout) => (graphqlUrl = /GraphQL\s+(http:\/\/\S+\/graphql)/.exec(stdout)?.[1] ?? '') !== '');
  return Object.assign(child, { graphqlUrl });
}

/** Starts `node bin/senpuki.js worker ...args` and waits until it says it runs. */
export function startWorkerChild(args: string[], env: Record<string, string | undefined> = {}): Promise<CliChild> {
  return startCliChild('worker', args, env, (stdout) => /^worker \S+ running/m.test(stdout));
}

async function startCliChild(
  command: 'serve' | 'worker',
  args: string[],
  env: Record<string, string | undefined>,
  ready: (stdout: string) => boolean,
): Promise<CliChild> {
  const child = spawn(process.execPath, [BIN, command, ...args], { cwd: ROOT, env: childEnv({ SENPUKI_LOG_LEVEL: 'warn', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  const stop = async (timeoutMs = 15_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const [code] = (await exited) as [number | null];
    clearTimeout(timer);
    return code;
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
