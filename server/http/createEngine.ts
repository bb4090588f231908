import { Senpuki } from '../engine/senpuki.js';
import type { NotificationBackend } from '../notifications/backend.js';
import { PostgresNotifyBackend } from '../notifications/postgresNotifyBackend.js';
import { RedisBackend } from '../notifications/redisBackend.js';
import { openStore } from '../store/store.js';
import type { EngineConfig } from './config.js';

/**
 * An engine from plain settings (what the CLI reads from DATABASE_URL / REDIS_URL): Postgres or
 * the embedded store; Redis notifications when a Redis URL is given, else Postgres LISTEN/NOTIFY
 * on a shared Postgres (so several processes still get push), else in-process ones (the embedded
 * store belongs to one process). The caller owns it and closes it with `senpuki.close()`.
 */
export async function createEngine(config: EngineConfig = {}): Promise<Senpuki> {
  const store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  let notifications: NotificationBackend | undefined;
  try {
    if (config.redisUrl) notifications = new RedisBackend(config.redisUrl);
    else if (config.databaseUrl) notifications = new PostgresNotifyBackend(config.databaseUrl);
    const senpuki = new Senpuki({ ...config.options, store, notifications });
    senpuki.register(...(config.functions ?? []));
    return senpuki;
  } catch (error) {
    await notifications?.close();
    await store.close();
    throw error;
  }
}
