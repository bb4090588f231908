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
import { performance } from 'node:perf_hooks';
import { PGlite } from '@electric-sql/pglite';
import type { ChannelListener } from '../server/notifications/backend.js';
import type { EngineBackend } from '../server/notifications/engineBackend.js';
import { MemoryBackend } from '../server/notifications/memoryBackend.js';
import { PostgresNotifyBackend } from '../server/notifications/postgresNotifyBackend.js';
import { RedisBackend } from '../server/notifications/redisBackend.js';
import { ChangeFeed } from '../server/realtime/changeFeed.js';
import { Store } from '../server/store/store.js';
import { DATABASE_URL, REDIS_URL, measurePaths, rawRedisLatencies, report } from './lib/report.js';

const SAMPLES = Number(process.env.SAMPLES ?? 2000);
const WARMUP = Number(process.env.WARMUP ?? 200);
/** One message that does not arrive within this fails the path (never hangs the bench). */
const MESSAGE_TIMEOUT_MS = 5000;

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
async function measureCommitToWaiter(notifications: EngineBackend | undefined, samples: number): Promise<number[]> {
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
    await notifications?.close?.();
    await store.db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await store.close();
  }
}

const PATHS: Array<{ path: string; measure: () => Promise<number[]> }> = [
  { path: 'raw ioredis PUBLISH → message (baseline)', measure: () => rawRedisLatencies(SAMPLES, WARMUP) },
  { path: 'RedisBackend publish → listen', measure: measureRedisBackend },
  { path: 'PostgresNotifyBackend (Postgres) NOTIFY → LISTEN', measure: measurePostgresNotify },
  { path: 'PostgresNotifyBackend (PGlite) NOTIFY → LISTEN', measure: measurePgliteNotify },
  { path: 'MemoryBackend publish → listen', measure: measureMemory },
  { path: 'commit → waiter, Redis', measure: () => measureCommitToWaiter(new RedisBackend(REDIS_URL), ENGINE_SAMPLES) },
  { path: 'commit → waiter, Postgres NOTIFY', measure: () => measureCommitToWaiter(new PostgresNotifyBackend(DATABASE_URL), ENGINE_SAMPLES) },
  { path: 'commit → waiter, in-process', measure: () => measureCommitToWaiter(new MemoryBackend(), ENGINE_SAMPLES) },
  { path: 'commit → waiter, polling (100 ms → 5 s)', measure: () => measureCommitToWaiter(undefined, POLLING_SAMPLES) },
];

async function main(): Promise<void> {
  // An unrecorded pass first: otherwise whichever path runs first pays for the process warming up
  // (JIT of the shared loop, CPU clocks), measured at ~3x its later p50.
  await measureMemory().catch(() => {});
  await rawRedisLatencies(SAMPLES, WARMUP).catch(() => {});
  const results = await measurePaths(PATHS);
  await report(
    'notify-latency',
    'notify latency',
    `sequential; ${SAMPLES} samples per publish path, ${ENGINE_SAMPLES} per commit → waiter path (${POLLING_SAMPLES} for polling), after a warm-up`,
    results,
    { samples: SAMPLES, engineSamples: ENGINE_SAMPLES, pollingSamples: POLLING_SAMPLES, warmup: WARMUP },
  );
}

await main();
