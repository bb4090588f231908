/**
 * Streams: how fast one task writes chunks (batched, durable), and how long after a batch
 * commits a graphql-ws client subscribed with `executionStream` receives it.
 *
 *   npm run bench   (all benches)      tsx bench/streams.ts   (this one)
 *   REDIS_URL / DATABASE_URL override the local defaults; SAMPLES, WARMUP, RUNS, CHUNKS the loop sizes.
 *
 * Throughput: a durable function writes CHUNKS small chunks in a tight `await out.write()` loop
 * and closes the stream; the time runs from the first write to the end of close() (every chunk
 * committed), inside the function, on a worker. RUNS runs per store; median, min and max.
 *
 * Latency, sequential (one chunk in flight), after WARMUP samples: a "writer" standing in for a
 * worker process (its own pool and notification connection, holding the task's lease) appends
 * one chunk with the query the engine uses; the clock starts when that commit returns, the
 * writer announces it as the engine does, and stops when the client's sink sees the chunk. The
 * `write()` path instead runs a real worker and times from `out.write(chunk)` to the client.
 * Everything runs in this process on one event loop. Raw ioredis PUBLISH → 'message' is the floor.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import { pino } from 'pino';
import WebSocket from 'ws';
import { Senpuki } from '../server/engine/senpuki.js';
import { StreamAnnouncer } from '../server/engine/streamAnnouncer.js';
import { startServer, type SenpukiServer } from '../server/http/startServer.js';
import type { EngineBackend } from '../server/notifications/engineBackend.js';
import { PostgresNotifyBackend } from '../server/notifications/postgresNotifyBackend.js';
import { RedisBackend } from '../server/notifications/redisBackend.js';
import { Store } from '../server/store/store.js';
import { DATABASE_URL, REDIS_URL, measurePaths, rawRedisLatencies, report, type ExtraTable } from './lib/report.js';

const SAMPLES = Number(process.env.SAMPLES ?? 500);
const WARMUP = Number(process.env.WARMUP ?? 50);
const RUNS = Number(process.env.RUNS ?? 5);
const CHUNKS = Number(process.env.CHUNKS ?? 100_000);
/** An event that does not arrive within this fails the path (never hangs the bench). */
const EVENT_TIMEOUT_MS = 10_000;
const STREAM = 'bench';
const EXECUTION_STREAM = `subscription($executionId: ID!, $name: String!) { executionStream(executionId: $executionId, name: $name) { closed chunks { seq } } }`;
const silent = pino({ level: 'silent' });

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => client.end());
}

/** Chunks per second of one task writing CHUNKS chunks, RUNS times, and the batches (statements) each run took. */
async function measureThroughput(store: Store): Promise<{ perSecond: number[]; batches: number[] }> {
  const senpuki = new Senpuki({ store, logger: silent, streamLimits: { maxChunks: CHUNKS } });
  const fn = senpuki.durable('benchWriter', async (ctx, count: number) => {
    const out = ctx.stream<string>(STREAM);
    const started = performance.now();
    for (let i = 1; i <= count; i++) await out.write(`token ${i}`);
    await out.close();
    return performance.now() - started;
  });
  const worker = await senpuki.serve({ concurrency: 1 });
  try {
    const perSecond: number[] = [];
    const batches: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const id = await senpuki.dispatch(fn, [CHUNKS]);
      const elapsedMs = await senpuki.waitFor(id, { timeoutMs: 120_000 });
      perSecond.push(CHUNKS / (elapsedMs / 1000));
      const { rows } = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM senpuki_stream_chunks WHERE execution_id = $1', [id]);
      batches.push(rows[0]!.n);
    }
    return { perSecond, batches };
  } finally {
    await worker.stop();
    await senpuki.close();
  }
}

/** Resolves with the time the client sees chunk `seq`; rejects on an error or after EVENT_TIMEOUT_MS. */
class ChunkWaiter {
  private waiting: { seq: number; resolve: (at: number) => void; reject: (error: unknown) => void } | undefined;
  private readonly arrived = new Map<number, number>();
  ready: Promise<void>;
  private onReady!: () => void;

  constructor(client: Client, executionId: string) {
    this.ready = new Promise((resolve) => (this.onReady = resolve));
    client.subscribe<{ executionStream: { chunks: Array<{ seq: number }> } }>(
      { query: EXECUTION_STREAM, variables: { executionId, name: STREAM } },
      {
        next: (event) => {
          const at = performance.now();
          if (event.errors) return this.waiting?.reject(new Error(JSON.stringify(event.errors)));
          this.onReady();
          for (const { seq } of event.data!.executionStream.chunks) {
            if (this.waiting?.seq === seq) this.waiting.resolve(at);
            else this.arrived.set(seq, at);
          }
        },
        error: (error) => this.waiting?.reject(error),
        complete: () => {},
      },
    );
  }

  seen(seq: number): Promise<number> {
    const at = this.arrived.get(seq);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`chunk ${seq} did not arrive within ${EVENT_TIMEOUT_MS} ms`)), EVENT_TIMEOUT_MS);
      this.waiting = { seq, resolve: (value) => (clearTimeout(timer), resolve(value)), reject: (error) => (clearTimeout(timer), reject(error)) };
    });
  }
}

/** A server on `serverBackend` and a graphql-ws client, on a fresh schema; `run` gets both, everything is closed after. */
async function withServer<T>(serverBackend: EngineBackend, run: (schema: string, server: SenpukiServer, client: Client) => Promise<T>): Promise<T> {
  const schema = `bench_streams_${process.pid}_${randomUUID().slice(0, 8)}`;
  const senpuki = new Senpuki({ store: Store.postgres(DATABASE_URL, { schema }), notifications: serverBackend, logger: silent });
  await senpuki.store.initDb();
  const server = await startServer({ senpuki, port: 0, logger: silent, processMetrics: false });
  const client = createClient({ url: server.graphqlUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
  try {
    return await run(schema, server, client);
  } finally {
    await client.dispose();
    await server.close();
    await senpuki.close();
    await dropSchema(schema);
  }
}

/** Batch commit → client event: the writer appends one chunk at a time under a lease it holds. */
function measureCommitToClient(serverBackend: EngineBackend, writerBackend: EngineBackend): Promise<number[]> {
  return withServer(serverBackend, async (schema, _server, client) => {
    const store = Store.postgres(DATABASE_URL, { schema });
    const announcer = new StreamAnnouncer(writerBackend);
    try {
      const { execution } = await store.createExecution({
        id: randomUUID(), rootTaskId: randomUUID(), functionName: 'bench', args: [], queue: 'bench', tags: [], priority: 0, delayMs: 0, maxAttempts: 1,
      });
      const workerId = 'bench-writer';
      await store.claimTasks({ workerId, queues: ['bench'], functionNames: ['bench'], limit: 1, leaseMs: 600_000 });
      const key = { executionId: execution.id, name: STREAM, taskId: execution.rootTaskId, workerId };
      const opened = await store.openStream(key, 10);
      if (!opened.ok) throw new Error(`could not open the stream: ${opened.reason}`);
      const waiter = new ChunkWaiter(client, execution.id);
      await waiter.ready;
      const latencies: number[] = [];
      for (let seq = 1; seq <= WARMUP + SAMPLES; seq++) {
        const chunksJson = JSON.stringify([`chunk ${seq}`]);
        const refusal = await store.appendStreamBatch(key, { firstSeq: seq, lastSeq: seq, run: 1, runStart: 1, chunksJson, bytes: chunksJson.length });
        const committed = performance.now();
        if (refusal) throw new Error(`append refused: ${refusal}`);
        announcer.announce(execution.id, STREAM, seq);
        const seen = await waiter.seen(seq);
        if (seq > WARMUP) latencies.push(seen - committed);
      }
      return latencies;
    } finally {
      await writerBackend.close?.();
      await store.close();
    }
  });
}

/** `out.write(chunk)` in a function on a worker → client event; the function writes the next chunk once the client has this one. */
function measureWriteToClient(serverBackend: EngineBackend, writerBackend: EngineBackend): Promise<number[]> {
  return withServer(serverBackend, async (schema, _server, client) => {
    const writer = new Senpuki({ store: Store.postgres(DATABASE_URL, { schema }), notifications: writerBackend, logger: silent });
    const writtenAt = new Map<number, number>();
    let clientHas: (seq: number) => Promise<number> = async () => 0;
    const fn = writer.durable('benchStream', async (ctx, count: number) => {
      const out = ctx.stream<number>(STREAM);
      for (let seq = 1; seq <= count; seq++) {
        writtenAt.set(seq, performance.now());
        await out.write(seq);
        await clientHas(seq);
      }
      return count;
    });
    const worker = await writer.serve({ concurrency: 1 });
    try {
      const id = await writer.dispatch(fn, [WARMUP + SAMPLES]);
      const waiter = new ChunkWaiter(client, id);
      const latencies: number[] = [];
      clientHas = async (seq) => {
        const seen = await waiter.seen(seq);
        if (seq > WARMUP) latencies.push(seen - writtenAt.get(seq)!);
        return seen;
      };
      await writer.waitFor(id, { timeoutMs: 120_000 });
      return latencies;
    } finally {
      await worker.stop();
      await writer.close();
    }
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const throughputRows: string[][] = [];
const throughput: Record<string, { perSecond: number[]; batches: number[] }> = {};
for (const [path, open] of [
  ['one task, Postgres', async () => Store.postgres(DATABASE_URL, { schema: `bench_streams_tp_${process.pid}` })],
  ['one task, embedded PGlite', () => Store.embedded({ dataDir: 'memory://' })],
] as const) {
  const store = await open();
  try {
    const result = await measureThroughput(store);
    throughput[path] = result;
    const rates = result.perSecond;
    throughputRows.push([path, String(RUNS), String(CHUNKS), ...[median(rates), Math.min(...rates), Math.max(...rates)].map((rate) => Math.round(rate).toLocaleString('en-US')), String(median(result.batches))]);
  } finally {
    if (store.kind === 'postgres') await dropSchema(`bench_streams_tp_${process.pid}`);
  }
}

const results = await measurePaths([
  { path: 'raw ioredis PUBLISH → message (baseline)', measure: () => rawRedisLatencies(SAMPLES * 4, WARMUP) },
  { path: 'chunk commit → graphql-ws event, Redis', measure: () => measureCommitToClient(new RedisBackend(REDIS_URL), new RedisBackend(REDIS_URL)) },
  { path: 'chunk commit → graphql-ws event, Postgres NOTIFY', measure: () => measureCommitToClient(new PostgresNotifyBackend(DATABASE_URL), new PostgresNotifyBackend(DATABASE_URL)) },
  { path: 'ctx.stream write() → graphql-ws event, Redis', measure: () => measureWriteToClient(new RedisBackend(REDIS_URL), new RedisBackend(REDIS_URL)) },
]);
const extra: ExtraTable[] = [
  {
    title: `write throughput: ${CHUNKS.toLocaleString('en-US')} chunks written in a tight loop and committed, ${RUNS} runs; chunks per second`,
    header: ['path', 'runs', 'chunks', 'median/s', 'min/s', 'max/s', 'statements'],
    rows: throughputRows,
  },
];
await report('streams', 'streams', `latency: sequential, one chunk in flight, after ${WARMUP} warm-up samples`, results, { samples: SAMPLES, warmup: WARMUP, runs: RUNS, chunks: CHUNKS, throughput }, extra);
