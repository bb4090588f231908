/**
 * The benchmark's shape, shared by every system it runs (Senpuki on each backend, graphile-worker,
 * BullMQ): trivial single-task jobs that return { ok: true }, one worker with concurrency 10,
 * jobs enqueued before the worker starts, the clock running from the first start until all are
 * persisted as completed; latency loops of one job at a time with random idle gaps.
 *
 * Each run is one child process (forked by bench/throughput.ts) that does one job and sends one
 * result back over IPC, so no system shares an event loop or a heap with another.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export const CONCURRENCY = 10;
export const LATENCY_SAMPLES = Number(process.env.LATENCY_SAMPLES ?? 200);
export const LATENCY_WARMUP = 20;
/** Idle gap before each latency sample, uniformly random in this range (the worker goes idle). */
export const IDLE_GAP_MS: readonly [number, number] = [5, 25];
/** Longest any run may take before it is reported as failed (never hangs the bench). */
export const RUN_TIMEOUT_MS = 10 * 60_000;

export type Job =
  | { mode: 'throughput'; system: SystemName; count: number }
  | { mode: 'backlog'; system: SystemName; waiting: number; measured: number }
  | { mode: 'latency'; system: SystemName; samples: number };

export type SystemName = 'senpuki-redis' | 'senpuki-notify' | 'senpuki-embedded' | 'graphile-defaults' | 'graphile-tuned' | 'bullmq';

/** Per execution, over a throughput run: what it cost the database and the notification layer. */
export interface Costs {
  /** Statements sent by the engine's store (BEGIN and COMMIT count), at dispatch and while running. */
  dispatchStatements: number;
  runStatements: number;
  /** Messages published (Redis PUBLISH commands, or NOTIFYs) and the round trips that carried them. */
  dispatchMessages: number;
  dispatchRoundTrips: number;
  runMessages: number;
  runRoundTrips: number;
  /** SUBSCRIBE/LISTEN of channels opened while running (each is one more command and round trip, then one to leave it). */
  runSubscriptions: number;
}

export interface RunResult {
  job: Job;
  completedPerSecond?: number;
  elapsedMs?: number;
  startLatenciesMs?: number[];
  seenLatenciesMs?: number[];
  costs?: Costs;
  /** Server versions, for the table's caption. */
  versions?: Record<string, string>;
}

/** Measures `count` completions: `start` starts the worker; `firstStart` and `allDone` resolve with performance.now() stamps. */
export async function timeCompletions(run: { start: () => Promise<void>; firstStart: Promise<number>; allDone: Promise<number> }, count: number) {
  await run.start();
  const [first, done] = await Promise.all([run.firstStart, run.allDone]);
  const elapsedMs = done - first;
  return { elapsedMs, completedPerSecond: (count / elapsedMs) * 1000 };
}

/**
 * One job at a time, each after a random idle gap: `sample(i)` enqueues job i and resolves once
 * its completion is seen; the job's handler stamps `started[i]` and `returned[i]`.
 */
export async function latencyLoop(
  samples: number,
  sample: (i: number, enqueuedAt: number) => Promise<number | undefined>,
  stamps: { started: Map<number, number>; returned: Map<number, number> },
): Promise<{ startLatenciesMs: number[]; seenLatenciesMs: number[] }> {
  const startLatenciesMs: number[] = [];
  const seenLatenciesMs: number[] = [];
  for (let i = 0; i < LATENCY_WARMUP + samples; i++) {
    await sleep(IDLE_GAP_MS[0] + Math.random() * (IDLE_GAP_MS[1] - IDLE_GAP_MS[0]));
    const enqueuedAt = performance.now();
    const seenAt = await sample(i, enqueuedAt);
    if (i < LATENCY_WARMUP) continue;
    startLatenciesMs.push(stamps.started.get(i)! - enqueuedAt);
    if (seenAt !== undefined) seenLatenciesMs.push(seenAt - stamps.returned.get(i)!);
  }
  return { startLatenciesMs, seenLatenciesMs };
}

/** A promise with its resolver, for "the first start" and "the last completion". */
export function signal<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Runs `main` with the job from argv and sends its result to the parent; exits non-zero on failure. */
export function runChild(main: (job: Job) => Promise<Omit<RunResult, 'job'>>): void {
  const job = JSON.parse(process.argv[2]!) as Job;
  const timer = setTimeout(() => {
    console.error(`${job.system} ${job.mode}: no result within ${RUN_TIMEOUT_MS} ms`);
    process.exit(2);
  }, RUN_TIMEOUT_MS);
  timer.unref();
  main(job).then(
    (result) => process.send!({ job, ...result } satisfies RunResult, () => process.exit(0)),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
