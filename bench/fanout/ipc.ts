/**
 * The fan-out bench's processes talk over IPC: the parent sends `{ id, type, ...body }`, the child
 * answers `{ id, reply }` (or `{ id, error }`). Times cross processes as `wallNow()`, the
 * high-resolution clock shifted by this process's time origin, so a commit stamped by the writer
 * and an event stamped by the clients subtract cleanly.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

export const wallNow = (): number => performance.timeOrigin + performance.now();

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler names the fields it reads
type Handler = (message: any) => unknown;

/** In a child: answers the parent's requests with `handlers[type]`; `exit` ends the process. */
export function serve(handlers: Record<string, Handler>): void {
  process.on('message', async (message: { id: number; type: string }) => {
    try {
      if (message.type === 'exit') {
        await handlers.exit?.(message);
        process.send!({ id: message.id, reply: null }, () => process.exit(0));
        return;
      }
      const handler = handlers[message.type];
      if (!handler) throw new Error(`no handler for ${message.type}`);
      process.send!({ id: message.id, reply: await handler(message) });
    } catch (error) {
      process.send!({ id: message.id, error: error instanceof Error ? error.stack : String(error) });
    }
  });
  process.send!({ id: 0, reply: 'ready' });
}

/** A child process and a typed request function. */
export interface Child {
  readonly pid: number;
  request<T = any>(type: string, body?: Record<string, unknown>): Promise<T>;
  /** Asks the child to clean up and exit; kills it if it has not after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Forks `file` (TypeScript, through tsx) and resolves once it serves requests. */
export async function start(file: string, env: Record<string, string> = {}, exposeGc = false): Promise<Child> {
  const child: ChildProcess = fork(file, [], {
    // FANOUT_SERVER_NODE_OPTIONS (e.g. "--cpu-prof --cpu-prof-dir=.scratch/prof") profiles the servers.
    execArgv: ['--import', 'tsx', ...(exposeGc ? ['--expose-gc', ...(process.env.FANOUT_SERVER_NODE_OPTIONS?.split(' ').filter(Boolean) ?? [])] : [])],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let ready!: () => void;
  const started = new Promise<void>((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => reject(new Error(`${file} exited (${code}) before it was ready`)));
  });
  child.on('message', (message: { id: number; reply?: unknown; error?: string }) => {
    if (message.id === 0) return ready();
    const pending = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error !== undefined) pending?.reject(new Error(message.error));
    else pending?.resolve(message.reply);
  });
  child.on('exit', (code) => {
    for (const pending of waiting.values()) pending.reject(new Error(`${file} exited (${code})`));
    waiting.clear();
  });
  await started;
  const request = <T>(type: string, body: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      child.send({ ...body, id, type });
    });
  return {
    pid: child.pid!,
    request,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await request('exit').catch(() => {});
      await exited;
      clearTimeout(timer);
    },
  };
}

/** What a server child reports about itself. */
export interface ProcessSample {
  /** Resident memory less V8's young generation (see sampleProcess). */
  rss: number;
  heapUsed: number;
  /** process.cpuUsage(), user + system, in milliseconds. */
  cpuMs: number;
}

/**
 * Memory after two memory-reducing full collections (the child runs with --expose-gc), and CPU
 * so far. RSS is counted without V8's young generation: its size is V8's guess from the recent
 * allocation rate (up to 32 MB here, given back only when its memory reducer runs, some seconds
 * after a burst, at a moment that differs from run to run) and after a collection it holds
 * nothing live. Counted in, it measured 32 MB of nothing in one state and not the other.
 */
export async function sampleProcess(): Promise<ProcessSample> {
  const { user, system } = process.cpuUsage(); // before the collections, which are the bench's, not the server's
  const gc = (globalThis as { gc?: (options?: object) => void }).gc;
  for (let i = 0; i < 2; i++) {
    gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { rss, heapUsed } = process.memoryUsage();
  const youngGeneration = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
  return { rss: rss - youngGeneration, heapUsed, cpuMs: (user + system) / 1000 };
}
