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
import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import { pino } from 'pino';
import WebSocket from 'ws';
import { Announcer } from '../server/engine/announcer.js';
import { Senpuki } from '../server/engine/senpuki.js';
import { startServer } from '../server/http/startServer.js';
import type { EngineBackend } from '../server/notifications/engineBackend.js';
import { MemoryBackend } from '../server/notifications/memoryBackend.js';
import { PostgresNotifyBackend } from '../server/notifications/postgresNotifyBackend.js';
import { RedisBackend } from '../server/notifications/redisBackend.js';
import { Store } from '../server/store/store.js';
import { DATABASE_URL, REDIS_URL, measurePaths, rawRedisLatencies, report } from './lib/report.js';

const SAMPLES = Number(process.env.SAMPLES ?? 500);
const POLLING_SAMPLES = Number(process.env.POLLING_SAMPLES ?? 60);
const WARMUP = Number(process.env.WARMUP ?? 50);
/** An event that does not arrive within this fails the path (never hangs the bench). */
const EVENT_TIMEOUT_MS = 10_000;
const TASK_UPDATED = 'subscription($id: ID!) { taskUpdated(id: $id) { state version } }';

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
async function measureGraphQL(serverBackend: EngineBackend, writerBackend: EngineBackend, samples: number, jitterMs: number): Promise<number[]> {
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
    await writerBackend.close?.();
    await writerStore.close();
    await dropSchema(schema);
  }
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => client.end());
}

const PATHS: Array<{ path: string; measure: () => Promise<number[]> }> = [
  { path: 'raw ioredis PUBLISH → message (baseline)', measure: () => rawRedisLatencies(SAMPLES * 4, WARMUP) },
  { path: 'task commit → graphql-ws event, Redis', measure: () => measureGraphQL(new RedisBackend(REDIS_URL), new RedisBackend(REDIS_URL), SAMPLES, 0) },
  {
    path: 'task commit → graphql-ws event, Postgres NOTIFY',
    measure: () => measureGraphQL(new PostgresNotifyBackend(DATABASE_URL), new PostgresNotifyBackend(DATABASE_URL), SAMPLES, 0),
  },
  // In-process notifications do not reach across processes: the server polls (100 ms → 5 s ×2).
  { path: 'task commit → graphql-ws event, polling', measure: () => measureGraphQL(new MemoryBackend(), new MemoryBackend(), POLLING_SAMPLES, 300) },
];

const results = await measurePaths(PATHS);
await report('subscription-latency', 'subscription latency', `sequential, one event in flight, after ${WARMUP} warm-up samples`, results, {
  samples: SAMPLES,
  pollingSamples: POLLING_SAMPLES,
  warmup: WARMUP,
});
