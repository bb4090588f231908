/**
 * One Senpuki run of the throughput bench (see shape.ts), on Postgres + Redis, Postgres
 * LISTEN/NOTIFY or the embedded PGlite store. Statements are counted at the store's `Db`, and
 * messages and round trips at the notification backend, so the costs per execution need no
 * server-side statistics. BENCH_PROFILE=1 also prints each statement's count and mean latency.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import pg from 'pg';
import { EXECUTIONS_CHANNEL } from '../../server/notifications/channels.js';
import { Senpuki } from '../../server/engine/senpuki.js';
import type { ChannelMessage } from '../../server/notifications/backend.js';
import type { ChannelBackend } from '../../server/notifications/channelBackend.js';
import { MemoryBackend } from '../../server/notifications/memoryBackend.js';
import { PostgresNotifyBackend } from '../../server/notifications/postgresNotifyBackend.js';
import { RedisBackend } from '../../server/notifications/redisBackend.js';
import { createPostgresDb, sessionGenericPlans, type Db, type Queryable } from '../../server/store/db.js';
import { createEmbeddedDb } from '../../server/store/embeddedDb.js';
import type { PreparedStatement } from '../../server/store/prepared.js';
import { Store } from '../../server/store/store.js';
import { DATABASE_URL, REDIS_URL } from '../lib/report.js';
import { CONCURRENCY, LATENCY_WARMUP, latencyLoop, runChild, signal, timeCompletions, type Costs, type Job } from './shape.js';

/** Dispatched per `dispatchMany` call while filling the queue. */
const DISPATCH_BATCH = 1000;

interface Tally {
  statements: number;
  messages: number;
  roundTrips: number;
  subscriptions: number;
}

/** Counts what a backend sends: each publish call is one round trip, a batch is one round trip of many messages. */
function counting<T extends abstract new (...args: any[]) => ChannelBackend>(Base: T, tally: Tally) {
  abstract class Counting extends Base {
    /** Set while a batch is published message by message (a transport without pipelining): counted once, as the batch. */
    private inBatch = false;
    protected override publishRaw(channel: string, payload: string): Promise<void> {
      if (!this.inBatch) {
        tally.messages++;
        tally.roundTrips++;
      }
      return (Base.prototype as unknown as { publishRaw: (c: string, p: string) => Promise<void> }).publishRaw.call(this, channel, payload);
    }
    protected override publishManyRaw(messages: readonly ChannelMessage[]): Promise<void> {
      tally.messages += messages.length;
      tally.roundTrips++;
      this.inBatch = true;
      try {
        return (Base.prototype as unknown as { publishManyRaw: (m: readonly ChannelMessage[]) => Promise<void> }).publishManyRaw.call(this, messages);
      } finally {
        this.inBatch = false; // The calls it makes to publishRaw are made synchronously, before its first await.
      }
    }
    override listen(channel: string, onMessage: (payload: string) => void): Promise<() => void> {
      tally.subscriptions++;
      return (Base.prototype as unknown as ChannelBackend).listen.call(this, channel, onMessage);
    }
  }
  return Counting as unknown as T;
}

const profile: Record<string, { n: number; ms: number }> = {};
process.on('exit', () => process.env.BENCH_PROFILE && console.error(Object.entries(profile).map(([k, v]) => `${v.n}\t${(v.ms / v.n).toFixed(2)}ms\t${k}`).join('\n')));

/** Every statement through `db`, BEGIN and COMMIT included. */
function countingDb<D extends Db>(db: D, tally: Tally): D {
  const wrap = (target: Queryable): Queryable => ({
    query: (text: string | PreparedStatement, values?: unknown[]): Promise<any> => {
      tally.statements++;
      if (!process.env.BENCH_PROFILE) return target.query(text, values);
      const t0 = performance.now();
      const key = String(text).replace(/\s+/g, ' ').slice(0, 40);
      return target.query(text, values).finally(() => {
        const entry = (profile[key] ??= { n: 0, ms: 0 });
        entry.n++;
        entry.ms += performance.now() - t0;
      });
    },
  });
  const counted: D = {
    ...db,
    ...wrap(db),
    transaction: (fn) =>
      db.transaction((tx) => {
        tally.statements += 2;
        return fn(wrap(tx));
      }),
  };
  // The claim's statements (Db.genericPlans) are counted too: on Postgres its own pool, counted as
  // such; on PGlite transactions of this same session, counted through it (BEGIN, SET, COMMIT too).
  const generic = db.kind === 'pglite' ? sessionGenericPlans(counted) : db.genericPlans === db ? counted : countingDb(db.genericPlans, tally);
  return Object.assign(counted, { genericPlans: generic });
}

async function openSenpuki(system: Job['system'], tally: Tally) {
  if (system === 'senpuki-embedded') {
    const dataDir = await mkdtemp(join(tmpdir(), 'senpuki-bench-'));
    const store = new Store(countingDb(await createEmbeddedDb({ dataDir: join(dataDir, 'data') }), tally));
    const notifications = new (counting(MemoryBackend, tally))();
    return { store, notifications, versions: {}, dispose: () => rm(dataDir, { recursive: true, force: true }) };
  }
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  const store = new Store(countingDb(createPostgresDb(DATABASE_URL, { schema, maxConnections: 10 }), tally));
  const notifications =
    system === 'senpuki-redis'
      ? new (counting(RedisBackend, tally))(REDIS_URL, { connectionName: 'senpuki-bench' })
      : new (counting(PostgresNotifyBackend, tally))(DATABASE_URL);
  const versions = await serverVersions(system === 'senpuki-redis');
  return {
    store,
    notifications,
    versions,
    async dispose() {
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
}

async function serverVersions(withRedis: boolean): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
  await client.end();
  const versions: Record<string, string> = { postgres: rows[0]!.server_version.split(' ')[0]! };
  if (withRedis) {
    const redis = new Redis(REDIS_URL);
    versions.redis = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
    redis.disconnect();
  }
  return versions;
}

async function main(job: Job) {
  const tally: Tally = { statements: 0, messages: 0, roundTrips: 0, subscriptions: 0 };
  const { store, notifications, versions, dispose } = await openSenpuki(job.system, tally);
  await store.initDb();
  const senpuki = new Senpuki({ store, notifications });
  const started = new Map<number, number>();
  const returned = new Map<number, number>();
  const firstStart = signal<number>();
  senpuki.durable('bench', async (_ctx, i: number) => {
    const now = performance.now();
    if (started.size === 0) firstStart.resolve(now);
    started.set(i, now);
    returned.set(i, performance.now());
    return { ok: true };
  });
  try {
    if (job.mode === 'latency') {
      const worker = await senpuki.serve({ concurrency: CONCURRENCY });
      const before = { ...tally };
      const result = await latencyLoop(
        job.samples,
        async (i) => {
          await senpuki.waitFor(await senpuki.dispatch('bench', [i]), { timeoutMs: 30_000 });
          return performance.now();
        },
        { started, returned },
      );
      const samples = job.samples + LATENCY_WARMUP;
      // One execution at a time: nothing to batch with. The waiter's own SUBSCRIBE/UNSUBSCRIBE are counted apart.
      const costs: Costs = {
        dispatchStatements: 0,
        runStatements: (tally.statements - before.statements) / samples,
        dispatchMessages: 0,
        dispatchRoundTrips: 0,
        runMessages: (tally.messages - before.messages) / samples,
        runRoundTrips: (tally.roundTrips - before.roundTrips) / samples,
        runSubscriptions: (tally.subscriptions - before.subscriptions) / samples,
      };
      await worker.stop();
      return { ...result, costs, versions };
    }
    const total = job.mode === 'throughput' ? job.count : job.waiting;
    const measured = job.mode === 'throughput' ? job.count : job.measured;
    for (let from = 0; from < total; from += DISPATCH_BATCH) {
      const size = Math.min(DISPATCH_BATCH, total - from);
      await senpuki.dispatchMany(Array.from({ length: size }, (_, k) => ({ fn: 'bench', args: [from + k] })));
    }
    const dispatched = { ...tally };
    // Completions are announced after they commit: counting them is counting persisted completions.
    let completed = 0;
    const allDone = signal<number>();
    await notifications.listen(EXECUTIONS_CHANNEL, (payload) => {
      if (payload.endsWith('"completed"}') && ++completed === measured) allDone.resolve(performance.now());
    });
    const afterListen = { ...tally };
    let worker: Awaited<ReturnType<typeof senpuki.serve>> | undefined;
    const timing = await timeCompletions(
      { start: async () => void (worker = await senpuki.serve({ concurrency: CONCURRENCY })), firstStart: firstStart.promise, allDone: allDone.promise },
      measured,
    );
    const ran = { ...tally };
    await worker!.stop();
    const done = await senpuki.countExecutions({ state: 'completed' });
    if (done < measured) throw new Error(`only ${done} of ${measured} executions are stored as completed`);
    const costs: Costs = {
      dispatchStatements: dispatched.statements / total,
      runStatements: (ran.statements - afterListen.statements) / measured,
      dispatchMessages: dispatched.messages / total,
      dispatchRoundTrips: dispatched.roundTrips / total,
      runMessages: (ran.messages - afterListen.messages) / measured,
      runRoundTrips: (ran.roundTrips - afterListen.roundTrips) / measured,
      // The worker's own wake-up listen is not per execution.
      runSubscriptions: Math.max(0, ran.subscriptions - afterListen.subscriptions - 1) / measured,
    };
    return { ...timing, costs, versions };
  } finally {
    await senpuki.close();
    await dispose();
  }
}

runChild(main);
