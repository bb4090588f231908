/**
 * Publish → listener-callback latency of each notification path, sequential (one message in
 * flight), after a warm-up. Raw ioredis PUBLISH → 'message' is measured in the same run as the
 * floor the Redis backend is compared against.
 *
 *   npm run bench          (all benches)     tsx bench/notify-latency.ts   (this one)
 *   REDIS_URL / DATABASE_URL override the local defaults; SAMPLES / WARMUP the loop sizes.
 *
 * The "commit → waiter" paths go through the engine: a row update commits on Postgres, the
 * notification is published, and a change-feed waiter (what `waitFor` and GraphQL subscriptions
 * use) re-reads the row and yields it. Polling is the same waiter with no backend.
 *
 * To add a path, write one `measure*` function that returns latencies in ms and add it to PATHS.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { Redis } from 'ioredis';
import type { ChannelListener } from '../server/notifications/backend.js';
import { MemoryBackend } from '../server/notifications/memoryBackend.js';
import { PostgresNotifyBackend } from '../server/notifications/postgresNotifyBackend.js';
import { RedisBackend } from '../server/notifications/redisBackend.js';
import type { NotificationBackend } from '../server/notifications/backend.js';
import { ChangeFeed } from '../server/realtime/changeFeed.js';
import { Store } from '../server/store/store.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SAMPLES = Number(process.env.SAMPLES ?? 2000);
const WARMUP = Number(process.env.WARMUP ?? 200);
/** One message that does not arrive within this fails the path (never hangs the bench). */
const MESSAGE_TIMEOUT_MS = 5000;
const RESULTS_FILE = join(dirname(fileURLToPath(import.meta.url)), 'results', 'notify-latency.json');

interface PathResult {
  path: string;
  count: number;
  p50Ms?: number;
  p90Ms?: number;
  p99Ms?: number;
  meanMs?: number;
  maxMs?: number;
  /** Why the path was not measured (service unreachable...). */
  skipped?: string;
}

/**
 * The measuring loop shared by every path: `publish(i)` sends message i; `subscribe` registers
 * the callback that must be called with i's payload. Returns one latency (ms) per sample.
 */
async function sequentialLatencies(
  subscribe: (onMessage: (payload: string) => void) => Promise<void>,
  publish: (payload: string) => Promise<unknown>,
): Promise<number[]> {
  let expected = '';
  let arrived: (() => void) | undefined;
  await subscribe((payload) => {
    if (payload === expected) arrived?.();
  });
  const latencies: number[] = [];
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    expected = JSON.stringify({ task_id: `bench-${i}`, state: 'completed' });
    let timer: NodeJS.Timeout | undefined;
    const received = new Promise<void>((resolve, reject) => {
      arrived = resolve;
      timer = setTimeout(() => reject(new Error(`message ${i} did not arrive within ${MESSAGE_TIMEOUT_MS}ms`)), MESSAGE_TIMEOUT_MS);
    });
    const started = performance.now();
    await Promise.all([publish(expected), received]).finally(() => clearTimeout(timer));
    if (i >= WARMUP) latencies.push(performance.now() - started);
  }
  return latencies;
}

/** Any ChannelListener backend: its own publish → its own listen callback. */
async function measureBackend(backend: ChannelListener & { close(): Promise<void> }): Promise<number[]> {
  const channel = 'senpuki:task:bench';
  try {
    return await sequentialLatencies(
      async (onMessage) => void (await backend.listen(channel, onMessage)),
      (payload) => backend.publish(channel, payload),
    );
  } finally {
    await backend.close();
  }
}

/** The floor: two raw ioredis connections, PUBLISH → 'message'. */
async function measureRawRedis(): Promise<number[]> {
  const subscriber = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const publisher = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const channel = 'senpuki:task:bench-raw';
  try {
    return await sequentialLatencies(
      async (onMessage) => {
        subscriber.on('message', (_channel: string, message: string) => onMessage(message));
        await subscriber.subscribe(channel);
      },
      (payload) => publisher.publish(channel, payload),
    );
  } finally {
    subscriber.disconnect();
    publisher.disconnect();
  }
}

const measureRedisBackend = () => measureBackend(new RedisBackend(REDIS_URL, { connectionName: 'senpuki-bench' }));
const measurePostgresNotify = () => measureBackend(new PostgresNotifyBackend(DATABASE_URL));
const measureMemory = () => measureBackend(new MemoryBackend());
async function measurePgliteNotify(): Promise<number[]> {
  const pglite = await PGlite.create();
  try {
    return await measureBackend(new PostgresNotifyBackend(pglite));
  } finally {
    await pglite.close();
  }
}

/** Samples of the engine paths (each one dispatches an execution). */
const ENGINE_SAMPLES = Number(process.env.ENGINE_SAMPLES ?? 500);
const POLLING_SAMPLES = Number(process.env.POLLING_SAMPLES ?? 100);

/**
 * Commit → waiter: an execution row is completed by an UPDATE (committed), the backend is told,
 * and we time until a change-feed waiter on that row yields the completed version.
 */
async function measureCommitToWaiter(notifications: NotificationBackend | undefined, samples: number): Promise<number[]> {
  const schema = `bench_${process.pid}`;
  const store = Store.postgres(DATABASE_URL, { schema });
  const feed = new ChangeFeed({ store, notifications, pushReachesAllWriters: notifications !== undefined });
  try {
    await store.initDb();
    const latencies: number[] = [];
    for (let i = 0; i < samples + Math.min(WARMUP, samples); i++) {
      const { execution } = await store.createExecution({
        id: crypto.randomUUID(), rootTaskId: crypto.randomUUID(), functionName: 'bench', args: [], queue: 'bench',
        tags: [], priority: 0, delayMs: 0, maxAttempts: 1,
      });
      const updates = feed.watchExecution(execution.id);
      await updates.next(); // the snapshot; the subscription is confirmed before it is read
      const completed = updates.next();
      await store.db.query(`UPDATE senpuki_executions SET state = 'completed', finished_at = now() WHERE id = $1`, [execution.id]);
      const committed = performance.now();
      void notifications?.notifyExecutionUpdated(execution.id, 'completed');
      const { value } = await completed;
      if (value?.state !== 'completed') throw new Error(`waiter saw ${value?.state}`);
      if (i >= Math.min(WARMUP, samples)) latencies.push(performance.now() - committed);
      await updates.return(undefined);
    }
    return latencies;
  } finally {
    await notifications?.close();
    await store.db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await store.close();
  }
}

const PATHS: Array<{ path: string; measure: () => Promise<number[]> }> = [
  { path: 'raw ioredis PUBLISH → message (baseline)', measure: measureRawRedis },
  { path: 'RedisBackend publish → listen', measure: measureRedisBackend },
  { path: 'PostgresNotifyBackend (Postgres) NOTIFY → LISTEN', measure: measurePostgresNotify },
  { path: 'PostgresNotifyBackend (PGlite) NOTIFY → LISTEN', measure: measurePgliteNotify },
  { path: 'MemoryBackend publish → listen', measure: measureMemory },
  { path: 'commit → waiter, Redis', measure: () => measureCommitToWaiter(new RedisBackend(REDIS_URL), ENGINE_SAMPLES) },
  { path: 'commit → waiter, Postgres NOTIFY', measure: () => measureCommitToWaiter(new PostgresNotifyBackend(DATABASE_URL), ENGINE_SAMPLES) },
  { path: 'commit → waiter, in-process', measure: () => measureCommitToWaiter(new MemoryBackend(), ENGINE_SAMPLES) },
  { path: 'commit → waiter, polling (100 ms → 5 s)', measure: () => measureCommitToWaiter(undefined, POLLING_SAMPLES) },
];

function summarize(path: string, latencies: number[]): PathResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);
  return {
    path,
    count: sorted.length,
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    meanMs: round(sorted.reduce((sum, value) => sum + value, 0) / sorted.length),
    maxMs: round(sorted[sorted.length - 1]!),
  };
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

async function main(): Promise<void> {
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
  // An unrecorded pass first: otherwise whichever path runs first pays for the process warming up
  // (JIT of the shared loop, CPU clocks), measured at ~3x its later p50.
  await measureMemory().catch(() => {});
  await measureRawRedis().catch(() => {});
  const results: PathResult[] = [];
  for (const { path, measure } of PATHS) {
    try {
      results.push(summarize(path, await measure()));
    } catch (error) {
      results.push({ path, count: 0, skipped: error instanceof Error ? error.message : String(error) });
    }
  }

  console.log(`notify latency — ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, node ${machine.node}`);
  console.log(`sequential; ${SAMPLES} samples per publish path, ${ENGINE_SAMPLES} per commit → waiter path (${POLLING_SAMPLES} for polling), after a warm-up; milliseconds\n`);
  const header = ['path', 'count', 'p50', 'p90', 'p99', 'mean', 'max'];
  const measured = results.filter((r) => !r.skipped);
  const rows = measured.map((r) => [r.path, String(r.count), ...[r.p50Ms, r.p90Ms, r.p99Ms, r.meanMs, r.maxMs].map((v) => v!.toFixed(3))]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => row[i]!.length), ...(i === 0 ? results.map((r) => r.path.length) : [])),
  );
  for (const row of [header, ...rows]) {
    console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
  }
  for (const r of results.filter((r) => r.skipped)) console.log(`${r.path.padEnd(widths[0]!)}  skipped: ${r.skipped}`);

  await mkdir(dirname(RESULTS_FILE), { recursive: true });
  const report = { bench: 'notify-latency', date: new Date().toISOString(), machine, samples: SAMPLES, warmup: WARMUP, results };
  await writeFile(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${RESULTS_FILE}`);
}

await main();
