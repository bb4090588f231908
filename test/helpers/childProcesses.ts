import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A tsx child process that reported itself ready with a JSON line. */
export interface TsxChild<T> {
  readonly process: ChildProcess;
  /** The JSON the child printed when ready. */
  readonly ready: T;
  /** Closes its stdin (its cue to shut down) and resolves with its exit code; kills it after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** Starts `node --import tsx <script>` and waits for its first stdout line (JSON). */
export async function startTsxChild<T>(script: string, env: Record<string, string>, timeoutMs = 30_000): Promise<TsxChild<T>> {
  // Not NODE_TEST_CONTEXT: a child that inherits it talks the test runner's protocol on stdout.
  const { NODE_TEST_CONTEXT: _testContext, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...inherited, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const exited = once(child, 'exit');
  const stop = async (stopTimeoutMs = 10_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    const [code] = (await exited) as [number | null];
    clearTimeout(timer);
    return code;
  };
  try {
    const ready = await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script} did not report ready within ${timeoutMs} ms`)), timeoutMs);
      lines.once('line', (line) => {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line) as T);
        } catch (error) {
          reject(error);
        }
      });
      void exited.then(([code]) => {
        clearTimeout(timer);
        reject(new Error(`${script} exited with ${code} before it was ready`));
      });
    });
    return { process: child, ready, stop };
  } catch (error) {
    await stop(1000);
    throw error;
  }
}
