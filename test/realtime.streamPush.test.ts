import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Senpuki } from '../server/engine/senpuki.js';
import type { StreamChunk } from '../server/domain/types.js';
import type { NotificationBackend } from '../server/notifications/backend.js';
import { PostgresNotifyBackend } from '../server/notifications/postgresNotifyBackend.js';
import { RedisBackend } from '../server/notifications/redisBackend.js';
import { Store } from '../server/store/store.js';
import { waitFor } from './helpers/conditions.js';
import { Gates } from './helpers/gates.js';
import { quietLogger } from './helpers/graphqlApp.js';
import { redisUrl, requirePostgres, requireRedis } from './helpers/services.js';
import { openPostgresTestStore, postgresUrl } from './helpers/stores.js';

/** Polls this rare mean that only a notification can deliver a chunk within a test's time. */
const NO_POLLING = { pollMinIntervalMs: 60_000, pollMaxIntervalMs: 60_000 };

const BACKENDS: Record<string, () => NotificationBackend> = {
  redis: () => new RedisBackend(redisUrl),
  'postgres notify': () => new PostgresNotifyBackend(postgresUrl),
};

describe('stream chunks reach readers of another engine by push', () => {
  for (const [backendName, backend] of Object.entries(BACKENDS)) {
    it(`sends each chunk, and the end of the stream, to a reader that does not poll (${backendName})`, async (t) => {
      if (!(await requirePostgres(t)) || (backendName === 'redis' && !(await requireRedis(t)))) return;
      const { schema, dispose } = await openPostgresTestStore();
      // A stream name longer than a Postgres channel name may be: the channel is per execution.
      const name = 'a stream name longer than sixty-three bytes, which no NOTIFY channel could hold';
      const gates = new Gates();
      const writer = new Senpuki({ store: Store.postgres(postgresUrl, { schema }), notifications: backend(), logger: quietLogger, ...NO_POLLING });
      const reader = new Senpuki({ store: Store.postgres(postgresUrl, { schema }), notifications: backend(), logger: quietLogger, ...NO_POLLING });
      const fn = writer.durable('pushedWords', async (ctx) => {
        const out = ctx.stream<string>(name);
        await out.write('first');
        await gates.wait('second');
        await out.write('second');
        await gates.wait('end');
        return null;
      });
      reader.register(fn);
      try {
        await writer.serve({ concurrency: 1 });
        const id = await writer.dispatch(fn, []);
        const seen: StreamChunk[] = [];
        let ended = false;
        const reading = (async () => {
          for await (const chunk of reader.readStream(id, name)) seen.push(chunk);
          ended = true;
        })();
        await waitFor(() => seen.length === 1, { message: 'the first chunk' });
        gates.open('second');
        await waitFor(() => seen.length === 2, { message: 'the second chunk, pushed' });
        gates.open('end');
        await waitFor(() => ended, { message: 'the end of the stream, pushed' });
        await reading;
        assert.deepEqual(seen.map((chunk) => chunk.data), ['first', 'second']);
      } finally {
        gates.openAll();
        await writer.close();
        await reader.close();
        await dispose();
      }
    });
  }
});
