/**
 * The Senpuki side of the fan-out bench: one API server process (no worker) on Postgres and
 * Redis, as deployed. The writer process commits the terminal states; this one only serves
 * subscriptions, so its RSS and CPU are the cost of the realtime path.
 *
 * It runs the package as built (dist/, by `npm run build`, which the bench runs first), as a
 * deployment does: under tsx every function of the TypeScript sources is wrapped to keep its name,
 * which gives each closure a dictionary of properties and would add kilobytes per subscription.
 */
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { DATABASE_URL, REDIS_URL } from '../lib/report.js';
import { sampleProcess, serve } from './ipc.js';

const DIST = join(fileURLToPath(import.meta.url), '..', '..', '..', 'dist', 'server');
const built = <T>(path: string): Promise<T> => import(join(DIST, path)) as Promise<T>;
const { Senpuki } = await built<typeof import('../../server/engine/senpuki.js')>('engine/senpuki.js');
const { startServer } = await built<typeof import('../../server/http/startServer.js')>('http/startServer.js');
const { RedisBackend } = await built<typeof import('../../server/notifications/redisBackend.js')>('notifications/redisBackend.js');
const { Store } = await built<typeof import('../../server/store/store.js')>('store/store.js');

const schema = process.env.FANOUT_SCHEMA!;
const connectionName = `senpuki-fanout-${process.pid}`;
const store = Store.postgres(DATABASE_URL, { schema });
const notifications = new RedisBackend(REDIS_URL, { connectionName });
const senpuki = new Senpuki({ store, notifications, logger: pino({ level: 'silent' }) });
const server = await startServer({
  senpuki,
  port: 0,
  logger: pino({ level: 'silent' }),
  processMetrics: false,
  limits: { maxSubscriptionsPerConnection: 1000 },
});

serve({
  url: () => server.graphqlUrl,
  sample: () => sampleProcess(),
  /** Connections this process holds to Redis as a subscriber (CLIENT LIST, by connection name). */
  redisSubscribers: async () => {
    const admin = new Redis(REDIS_URL);
    try {
      const list = (await admin.client('LIST')) as string;
      return list.split('\n').filter((line) => line.includes(`name=${connectionName}:subscriber`)).length;
    } finally {
      admin.disconnect();
    }
  },
  openSubscriptions: () => server.app.activeSubscriptions,
  watchedRows: () => senpuki.feed.watchedRows,
  /** A heap snapshot at `path` (to see what each subscription holds: diff one taken idle with one taken loaded). */
  heapSnapshot: ({ path }: { path: string }) => writeHeapSnapshot(path),
  exit: async () => {
    await server.close();
    await senpuki.close();
  },
});
