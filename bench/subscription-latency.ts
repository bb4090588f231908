/**
 * Task commit → graphql-ws client event: how long after a task's state change commits on
 * Postgres a browser-like client subscribed with `taskUpdated` receives the new version.
 *
 *   npm run bench   (all benches)      tsx bench/subscription-latency.ts   (this one)
 *   REDIS_URL / DATABASE_URL override the local defaults; SAMPLES, POLLING_SAMPLES, WARMUP the loop sizes.
 *
 * Each sample: a "writer" (standing in for a worker process: its own pool and its own
 * notification connection) creates an execution; the client subscribes to its root task over
 * graphql-ws and gets the PENDING snapshot; the writer cancels it (one transaction moves the task
 * to CANCELLED), the clock starts when that commit returns, the writer announces it the way the
 * engine does, and the clock stops when the client's sink sees CANCELLED. Everything runs in this
 * process on one event loop, so the numbers include its contention. Raw ioredis PUBLISH →
 * 'message' is measured in the same run as the floor.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import WebSocket from 'ws';
import { Announcer } from '../server/engine/announcer.js';
import { Senpuki } from '../server/engine/senpuki.js';
import { startServer } from '../server/http/startServer.js';
import type { NotificationBackend } from '../server/notifications/backend.js';
import { MemoryBackend } from '../server/notifications/memoryBackend.js';
import { PostgresNotifyBackend } from '../server/notifications/postgresNotifyBackend.js';
import { RedisBackend } from '../server/notifications/redisBackend.js';
import { Store } from '../server/store/store.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SAMPLES = Number(process.env.SAMPLES ?? 500);
const POLLING_SAMPLES = Number(process.env.POLLING_SAMPLES ?? 60);
const WARMUP = Number(process.env.WARMUP ?? 50);
/** An event that does not arrive within this fails the path (never hangs the bench). */
const EVENT_TIMEOUT_MS = 10_000;
const RESULTS_FILE = join(dirname(fileURLToPath(import.meta.url)), 'results', 'subscription-latency.json');
const TASK_UPDATED = 'subscription($id: ID!) { taskUpdated(id: $id) { state version } }';

interface PathResult {
  path: string;
  count: number;
  p50Ms?: number;
  p90Ms?: number;
  p99Ms?: number;
  meanMs?: number;
  maxMs?: number;
  skipped?: string;
}

/** Rejects after `ms` (cleared by the caller). */
function deadline(ms: number, what: string): { promise: Promise<never>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)));
  return { promise, clear: () => clearTimeout(timer) };
}

/** One subscription: resolves `snapshot` on the first event and `changed` on the first CANCELLED one. */
function subscribeTask(client: Client, taskId: string) {
  let onSnapshot!: () => void;
  let onChanged!: (at: number) => void;
  let onFailed!: (error: unknown) => void;
  const snapshot = new Promise<void>((resolve, reject) => ((onSnapshot = resolve), (onFailed = reject)));
  const changed = new Promise<number>((resolve, reject) => {
    onChanged = resolve;
    const previous = onFailed;
    onFailed = (error) => (previous(error), reject(error));
  });
  changed.catch(() => {});
  const stop = client.subscribe<{ taskUpdated: { state: string } }>(
    { query: TASK_UPDATED, variables: { id: taskId } },
    {
      next: (event) => {
        const at = performance.now();
        if (event.errors) return onFailed(new Error(JSON.stringify(event.errors)));
        if (event.data?.taskUpdated.state === 'CANCELLED') onChanged(at);
        else onSnapshot();
      },
      error: (error) => onFailed(error),
      complete: () => {},
    },
  );
  return { snapshot, changed, stop };
}

/**
 * Runs the sample loop against a server whose engine uses `serverBackend`, with writes announced
 * on `writerBackend` (a separate connection, as a worker process would have).
 */
async function measureGraphQL(serverBackend: NotificationBackend, writerBackend: NotificationBackend, samples: number, jitterMs: number): Promise<number[]> {
  const schema = `bench_sub_${process.pid}`;
  const serverStore = Store.postgres(DATABASE_URL, { schema });
  const writerStore = Store.postgres(DATABASE_URL, { schema });
  const senpuki = new Senpuki({ store: serverStore, notifications: serverBackend, logger: pino({ level: 'silent' }) });
  const announcer = new Announcer(writerBackend);
  const server = await startServer({ senpuki, port: 0, logger: pino({ level: 'silent' }), processMetrics: false });
  const client = createClient({ url: server.graphqlUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
  try {
    await serverStore.initDb();
    const latencies: number[] = [];
    for (let i = 0; i < WARMUP + samples; i++) {
      const { execution } = await writerStore.createExecution({
        id: randomUUID(), rootTaskId: randomUUID(), functionName: 'bench', args: [], queue: 'bench',
        tags: [], priority: 0, delayMs: 0, maxAttempts: 1,
      });
      const subscription = subscribeTask(client, execution.rootTaskId);
      const timeout = deadline(EVENT_TIMEOUT_MS, `sample ${i}: no event`);
      try {
        await Promise.race([subscription.snapshot, timeout.promise]);
        // Polling latency depends on where in the poll cycle the change lands: spread it.
        if (jitterMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * jitterMs));
        const outcome = await writerStore.cancelExecution(execution.id);
        const committed = performance.now();
        void announcer.announce(outcome?.changes);
        const seen = await Promise.race([subscription.changed, timeout.promise]);
        if (i >= WARMUP) latencies.push(seen - committed);
      } finally {
        timeout.clear();
        subscription.stop();
      }
    }
    return latencies;
  } finally {
    await client.dispose();
    await server.close();
    await senpuki.close();
    await writerBackend.close();
    await writerStore.close();
    await dropSchema(schema);
  }
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => client.end());
}

/** The floor: two raw ioredis connections, PUBLISH → 'message', one message in flight. */
async function measureRawRedis(samples: number): Promise<number[]> {
  const subscriber = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const publisher = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const channel = `senpuki:bench:raw:${process.pid}`;
  let arrived: ((at: number) => void) | undefined;
  subscriber.on('message', () => arrived?.(performance.now()));
  try {
    await subscriber.subscribe(channel);
    const latencies: number[] = [];
    for (let i = 0; i < WARMUP + samples; i++) {
      const received = new Promise<number>((resolve) => (arrived = resolve));
      const started = performance.now();
      await publisher.publish(channel, JSON.stringify({ task_id: `bench-${i}`, state: 'completed' }));
      const at = await received;
      if (i >= WARMUP) latencies.push(at - started);
    }
    return latencies;
  } finally {
    subscriber.disconnect();
    publisher.disconnect();
  }
}

const PATHS: Array<{ path: string; measure: () => Promise<number[]> }> = [
  { path: 'raw ioredis PUBLISH → message (baseline)', measure: () => measureRawRedis(SAMPLES * 4) },
  { path: 'task commit → graphql-ws event, Redis', measure: () => measureGraphQL(new RedisBackend(REDIS_URL), new RedisBackend(REDIS_URL), SAMPLES, 0) },
  {
    path: 'task commit → graphql-ws event, Postgres NOTIFY',
    measure: () => measureGraphQL(new PostgresNotifyBackend(DATABASE_URL), new PostgresNotifyBackend(DATABASE_URL), SAMPLES, 0),
  },
  // In-process notifications do not reach across processes: the server polls (100 ms → 5 s ×2).
  { path: 'task commit → graphql-ws event, polling', measure: () => measureGraphQL(new MemoryBackend(), new MemoryBackend(), POLLING_SAMPLES, 300) },
];

const round = (ms: number) => Math.round(ms * 1000) / 1000;

function summarize(path: string, latencies: number[]): PathResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
  return { path, count: sorted.length, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), meanMs: round(mean), maxMs: round(sorted.at(-1)!) };
}

async function main(): Promise<void> {
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
  const results: PathResult[] = [];
  for (const { path, measure } of PATHS) {
    try {
      results.push(summarize(path, await measure()));
    } catch (error) {
      results.push({ path, count: 0, skipped: error instanceof Error ? error.message : String(error) });
    }
  }

  console.log(`subscription latency — ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, node ${machine.node}`);
  console.log(`sequential, one event in flight, after ${WARMUP} warm-up samples; milliseconds\n`);
  const header = ['path', 'count', 'p50', 'p90', 'p99', 'mean', 'max'];
  const rows = results.filter((r) => !r.skipped).map((r) => [r.path, String(r.count), ...[r.p50Ms, r.p90Ms, r.p99Ms, r.meanMs, r.maxMs].map((v) => v!.toFixed(3))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length), ...(i === 0 ? results.map((r) => r.path.length) : [])));
  for (const row of [header, ...rows]) console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
  for (const r of results.filter((r) => r.skipped)) console.log(`${r.path.padEnd(widths[0]!)}  skipped: ${r.skipped}`);

  await mkdir(dirname(RESULTS_FILE), { recursive: true });
  const report = { bench: 'subscription-latency', date: new Date().toISOString(), machine, samples: SAMPLES, pollingSamples: POLLING_SAMPLES, warmup: WARMUP, results };
  await writeFile(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${RESULTS_FILE}`);
  if (results.some((r) => r.skipped)) process.exitCode = 1;
}

await main();
