/**
 * The Senpuki side of the fan-out bench: one API server process (no worker) on Postgres and
 * Redis, as deployed. The writer process commits the terminal states; this one only serves
 * subscriptions, so its RSS and CPU are the cost of the realtime path.
 */
import { writeHeapSnapshot } from 'node:v8';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { Senpuki } from '../../server/engine/senpuki.js';
import { startServer } from '../../server/http/startServer.js';
import { RedisBackend } from '../../server/notifications/redisBackend.js';
import { Store } from '../../server/store/store.js';
import { DATABASE_URL, REDIS_URL } from '../lib/report.js';
import { sampleProcess, serve } from './ipc.js';

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
