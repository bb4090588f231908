/**
 * One graphile-worker or BullMQ run of the throughput bench (see shape.ts), with the peers
 * loaded from bench/peers/node_modules (their own package.json and lockfile: they are never
 * dependencies of the product).
 *
 * graphile-worker "defaults" is `run()` with concurrency 10 and nothing else; "tuned" adds what
 * its docs recommend for throughput: a local queue of prefetched jobs and batched completions.
 * BullMQ is a Worker with concurrency 10; its completions are seen through QueueEvents.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { DATABASE_URL, REDIS_URL } from '../lib/report.js';
import { CONCURRENCY, latencyLoop, runChild, signal, timeCompletions, type Job } from './shape.js';

const PEERS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'peers');
const requirePeer = createRequire(join(PEERS_DIR, 'package.json'));
const importPeer = (name: string): Promise<any> => import(pathToFileURL(requirePeer.resolve(name)).href);
/** How often the graphile run looks whether its jobs table is empty (its jobs are deleted on completion). */
const GRAPHILE_DONE_POLL_MS = 5;

/** Peer versions as installed (for the table). */
export function peerVersion(name: string): string {
  return (requirePeer(`${name}/package.json`) as { version: string }).version;
}

async function graphile(job: Job) {
  const { run, makeWorkerUtils, Logger } = await importPeer('graphile-worker');
  const schema = `gw_bench_${randomBytes(5).toString('hex')}`;
  const tuned = job.system === 'graphile-tuned';
  const preset = tuned ? { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0 } } : undefined;
  const quiet = { logger: new Logger(() => () => {}) };
  const utils = await makeWorkerUtils({ connectionString: DATABASE_URL, schema, ...quiet });
  await utils.migrate();
  const started = new Map<number, number>();
  const returned = new Map<number, number>();
  const firstStart = signal<number>();
  const taskList = {
    bench: async (payload: { i: number }) => {
      const now = performance.now();
      if (started.size === 0) firstStart.resolve(now);
      started.set(payload.i, now);
      returned.set(payload.i, performance.now());
      return { ok: true };
    },
  };
  const options = { connectionString: DATABASE_URL, schema, concurrency: CONCURRENCY, noHandleSignals: true, taskList, preset, ...quiet };
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  try {
    if (job.mode === 'latency') {
      const runner = await run(options);
      const result = await latencyLoop(
        job.samples,
        async (i) => {
          await utils.addJob('bench', { i });
          while (!started.has(i)) await sleep(0.2);
          return undefined; // graphile-worker keeps no result to wait for.
        },
        { started, returned },
      );
      await runner.stop();
      return { ...result, versions: { 'graphile-worker': peerVersion('graphile-worker') } };
    }
    if (job.mode !== 'throughput') throw new Error('the backlog runs are Senpuki only');
    for (let from = 0; from < job.count; from += 1000) {
      await utils.addJobs(Array.from({ length: Math.min(1000, job.count - from) }, (_, k) => ({ identifier: 'bench', payload: { i: from + k } })));
    }
    const allDone = signal<number>();
    let runner: { stop: () => Promise<void> } | undefined;
    const timing = await timeCompletions(
      {
        start: async () => {
          runner = await run(options);
          void (async () => {
            for (;;) {
              const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}._private_jobs`);
              if (rows[0]!.n === 0) return allDone.resolve(performance.now());
              await sleep(GRAPHILE_DONE_POLL_MS);
            }
          })();
        },
        firstStart: firstStart.promise,
        allDone: allDone.promise,
      },
      job.count,
    );
    await runner!.stop();
    return { ...timing, versions: { 'graphile-worker': peerVersion('graphile-worker') } };
  } finally {
    await utils.release();
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  }
}

async function bullmq(job: Job) {
  const { Queue, Worker, QueueEvents } = await importPeer('bullmq');
  const prefix = `bench-${randomBytes(5).toString('hex')}`;
  const connection = { url: REDIS_URL, maxRetriesPerRequest: null };
  const queue = new Queue('bench', { connection, prefix });
  const started = new Map<number, number>();
  const returned = new Map<number, number>();
  const firstStart = signal<number>();
  const processor = async (bullJob: { data: { i: number } }) => {
    const now = performance.now();
    if (started.size === 0) firstStart.resolve(now);
    started.set(bullJob.data.i, now);
    returned.set(bullJob.data.i, performance.now());
    return { ok: true };
  };
  const versions = { bullmq: peerVersion('bullmq') };
  try {
    if (job.mode === 'latency') {
      const events = new QueueEvents('bench', { connection, prefix });
      await events.waitUntilReady();
      const worker = new Worker('bench', processor, { connection, prefix, concurrency: CONCURRENCY });
      await worker.waitUntilReady();
      const result = await latencyLoop(
        job.samples,
        async (i) => {
          const added = await queue.add('bench', { i });
          await added.waitUntilFinished(events, 30_000);
          return performance.now();
        },
        { started, returned },
      );
      await worker.close();
      await events.close();
      return { ...result, versions };
    }
    if (job.mode !== 'throughput') throw new Error('the backlog runs are Senpuki only');
    for (let from = 0; from < job.count; from += 1000) {
      await queue.addBulk(Array.from({ length: Math.min(1000, job.count - from) }, (_, k) => ({ name: 'bench', data: { i: from + k } })));
    }
    const allDone = signal<number>();
    let completed = 0;
    const worker = new Worker('bench', processor, { connection, prefix, concurrency: CONCURRENCY, autorun: false });
    // 'completed' is emitted once the job's completion is stored in Redis.
    worker.on('completed', () => {
      if (++completed === job.count) allDone.resolve(performance.now());
    });
    const timing = await timeCompletions({ start: async () => void worker.run(), firstStart: firstStart.promise, allDone: allDone.promise }, job.count);
    await worker.close();
    return { ...timing, versions };
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

runChild((job) => (job.system === 'bullmq' ? bullmq(job) : graphile(job)));
