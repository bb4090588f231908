import type { Logger } from 'pino';
import { Senpuki, type SenpukiOptions } from './senpuki.js';
import type { DurableFunction } from './registry.js';
import type { NotificationBackend } from '../notifications/backend.js';
import { PostgresNotifyBackend } from '../notifications/postgresNotifyBackend.js';
import { RedisBackend } from '../notifications/redisBackend.js';
import { openStore } from '../store/store.js';

/** Plain settings of an engine (what the CLI reads from DATABASE_URL / REDIS_URL; the server builds one from them when it is not handed an engine). */
export interface EngineConfig {
  /** postgres:// URL; without one, the embedded PGlite store in `dataDir`. */
  databaseUrl?: string;
  dataDir?: string;
  /** redis:// URL (any form RedisBackend accepts); without one, in-process notifications. */
  redisUrl?: string;
  /** Durable functions to register. */
  functions?: DurableFunction[];
  /** Polling, args size and logger options of the engine. */
  options?: Omit<SenpukiOptions, 'store' | 'backend' | 'notifications' | 'notificationBackend'>;
}

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
    const logger = config.options?.logger;
    if (config.redisUrl) {
      const outage = outageLog(logger, 'Redis');
      const redis = new RedisBackend(config.redisUrl, { onConnectionError: outage.onError });
      redis.addConnectionListener(outage.onConnection);
      notifications = redis;
    } else if (config.databaseUrl) {
      const outage = outageLog(logger, 'The Postgres LISTEN connection');
      const postgres = new PostgresNotifyBackend(config.databaseUrl, { onConnectionError: outage.onError });
      postgres.addConnectionListener(outage.onConnection);
      notifications = postgres;
    }
    const senpuki = new Senpuki({ ...config.options, store, notifications });
    senpuki.register(...(config.functions ?? []));
    return senpuki;
  } catch (error) {
    await notifications?.close?.();
    await store.close();
    throw error;
  }
}

/**
 * Logs a notification backend's outage once when it begins and once when it ends, rather than
 * every reconnect attempt: operators see that push stopped (waits poll meanwhile) and came back.
 */
function outageLog(logger: Logger | undefined, name: string) {
  let down = false;
  const onError = (error: unknown) => {
    if (down) return;
    down = true;
    logger?.warn({ err: error }, `${name} is unreachable: push notifications are paused, waits poll the store until it is back`);
  };
  return {
    onError,
    onConnection(connected: boolean) {
      if (!connected) return onError(new Error('connection lost'));
      if (!down) return;
      down = false;
      logger?.warn(`${name} is reachable again: push notifications resumed`);
    },
  };
}
