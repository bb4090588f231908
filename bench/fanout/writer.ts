/**
 * The fan-out bench's writer, standing in for the workers: its own pool and its own Redis
 * connection. It creates the executions, and in the burst moves every one to a terminal state
 * (a cancel: one transaction each, all at once), announcing each commit the way the engine
 * does, and answers with the time each commit returned.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Announcer } from '../../server/engine/announcer.js';
import { RedisBackend } from '../../server/notifications/redisBackend.js';
import { Store } from '../../server/store/store.js';
import { DATABASE_URL, REDIS_URL } from '../lib/report.js';
import { serve, wallNow } from './ipc.js';

const schema = process.env.FANOUT_SCHEMA!;
const store = Store.postgres(DATABASE_URL, { schema });
const notifications = new RedisBackend(REDIS_URL, { connectionName: `senpuki-fanout-writer-${process.pid}` });
const announcer = new Announcer(notifications);

serve({
  create: async ({ count }: { count: number }) => {
    await store.initDb();
    const ids: string[] = [];
    for (let from = 0; from < count; from += 1000) {
      const inputs = Array.from({ length: Math.min(1000, count - from) }, () => ({
        id: randomUUID(), rootTaskId: randomUUID(), functionName: 'bench', args: [], queue: 'fanout',
        tags: [], priority: 0, delayMs: 0, maxAttempts: 1,
      }));
      await store.createExecutions(inputs);
      ids.push(...inputs.map((input) => input.id));
    }
    return ids;
  },
  burst: async ({ ids }: { ids: string[] }) =>
    Promise.all(
      ids.map(async (id) => {
        const outcome = await store.cancelExecution(id);
        const at = wallNow();
        void announcer.announce(outcome?.changes);
        return at;
      }),
    ),
  exit: async () => {
    await notifications.close();
    await store.close();
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => client.end());
  },
});
