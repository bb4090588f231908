/**
 * Child process for multi-process tests: a GraphQL server (SENPUKI_TEST_ROLE=server) or a worker
 * (=worker) on a shared Postgres schema and Redis. Prints one JSON line when ready
 * ({"url": ...} for a server) and shuts down cleanly when its stdin closes.
 */
import { pino } from 'pino';
import { Senpuki } from '../../server/engine/senpuki.js';
import { startServer } from '../../server/http/startServer.js';
import { RedisBackend } from '../../server/notifications/redisBackend.js';
import { Store } from '../../server/store/store.js';

const env = process.env;
const store = Store.postgres(env.DATABASE_URL!, { schema: env.SENPUKI_TEST_SCHEMA });
const notifications = new RedisBackend(env.REDIS_URL!, { connectionName: env.SENPUKI_TEST_CONNECTION_NAME });
// Polls this rare mean that only a Redis message can deliver a change within the test's time.
const senpuki = new Senpuki({ store, notifications, pollMinIntervalMs: 60_000, pollMaxIntervalMs: 60_000, logger: pino({ level: 'silent' }) });
senpuki.durable('step', async (_ctx, value: string) => `done ${value}`);

let close: () => Promise<void>;
if (env.SENPUKI_TEST_ROLE === 'server') {
  const server = await startServer({ senpuki, port: 0, logger: pino({ level: 'silent' }), processMetrics: false });
  process.stdout.write(`${JSON.stringify({ url: server.graphqlUrl })}\n`);
  close = async () => {
    await server.close();
    await senpuki.close();
  };
} else {
  await senpuki.serve({ concurrency: 2 });
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  close = () => senpuki.close();
}
process.stdin.resume();
process.stdin.on('end', () => void close());
