import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConnectionDescription } from './redisUrl.js';
import { rejectAfter, settleWithin } from '../support/timers.js';

/** A plain, Sentinel-managed or Cluster connection: they share the calls the backend makes. */
export type RedisConnection = Redis | Cluster;

/** The subscriber holds every subscription; the publisher only sends PUBLISH. */
export type RedisRole = 'subscriber' | 'publisher';

export interface RedisLinkOptions {
  /** `CLIENT SETNAME` of the connection (no spaces). */
  connectionName: string;
  /** PUBLISH (and waiting for the first connect before it) gives up after this. */
  publishTimeoutMs: number;
  /** Extra ioredis options for every connection (Cluster: for every node). */
  redisOptions?: RedisOptions;
  /** Extra options for `new Cluster` (only with comma-separated hosts). */
  clusterOptions?: ClusterOptions;
}

/** How long `close()` waits for QUIT before dropping the socket. */
const QUIT_TIMEOUT_MS = 1000;

/**
 * The options that make each role behave (they win over user options):
 * - subscriber: commands wait in the offline queue through outages and are never flushed
 *   (maxRetriesPerRequest null), so every SUBSCRIBE/UNSUBSCRIBE reaches a definite outcome and the
 *   ref counts stay true; ioredis re-subscribes confirmed channels on reconnect (autoResubscribe).
 * - publisher: no offline queue, no retries, a command timeout: a publish while Redis is down fails
 *   at once instead of queueing behind an outage and holding up a worker (a lost hint only costs
 *   latency: waiters poll the store).
 */
function roleOptions(role: RedisRole, options: RedisLinkOptions): RedisOptions {
  const common: RedisOptions = { lazyConnect: true, connectionName: options.connectionName };
  return role === 'subscriber'
    ? { ...common, autoResubscribe: true, enableOfflineQueue: true, maxRetriesPerRequest: null }
    : {
        ...common,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        commandTimeout: options.publishTimeoutMs,
      };
}

/** Opens (lazily) one connection of `role` as the parsed URL describes. */
export function createRedisConnection(
  description: RedisConnectionDescription,
  role: RedisRole,
  options: RedisLinkOptions,
): RedisConnection {
  const forced = roleOptions(role, options);
  if (description.mode === 'cluster') {
    return new Cluster(description.nodes, {
      ...options.clusterOptions,
      ...description.options,
      lazyConnect: true,
      enableOfflineQueue: forced.enableOfflineQueue,
      redisOptions: {
        ...description.options.redisOptions,
        ...options.clusterOptions?.redisOptions,
        ...options.redisOptions,
        ...forced,
      },
    });
  }
  return new Redis({ ...description.options, ...options.redisOptions, ...forced });
}

/**
 * One connection plus what the backend needs to know about it: is it known to be down (so callers
 * fail fast instead of waiting), when is it ready, and an idempotent close.
 */
export class RedisLink {
  /** Set once the first connect attempt had an outcome; before that, callers wait for it. */
  private settled = false;
  private closing: Promise<void> | undefined;
  private readyWait: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    readonly connection: RedisConnection,
    readonly role: RedisRole,
    onError: (error: unknown) => void,
  ) {
    // Without an 'error' listener ioredis prints every reconnect failure to the console.
    connection.on('error', (error: unknown) => {
      try {
        onError(error);
      } catch {
        // A faulty hook must not break the connection's event handling.
      }
    });
    connection.on('ready', () => (this.settled = true));
    connection.on('close', () => (this.settled = true));
  }

  /** True when the connection was tried (or was up) and is not ready now. */
  get down(): boolean {
    return this.settled && this.connection.status !== 'ready';
  }

  /**
   * Resolves when ready; rejects at once if known down, or on close, or after `timeoutMs`.
   * Concurrent callers share one wait (and its timer), so a burst of publishes adds two listeners.
   */
  async whenReady(timeoutMs: number): Promise<void> {
    const connection = this.connection;
    if (connection.status === 'ready') return;
    if (this.closing || this.down) throw new Error(`Redis ${this.role} connection is not available (${connection.status})`);
    if (connection.status === 'wait') connection.connect().catch(() => {});
    this.readyWait ??= new Promise<void>((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        connection.off('ready', onReady);
        connection.off('close', onClose);
        this.readyWait = undefined;
        if (error) reject(error);
        else resolve();
      };
      const onReady = () => finish();
      const onClose = () => finish(new Error(`Redis ${this.role} connection failed`));
      const timer = setTimeout(
        () => finish(new Error(`Redis ${this.role} connection not ready within ${timeoutMs}ms`)),
        timeoutMs,
      );
      // Not unref'd: callers await it (it never outlives their call).
      connection.once('ready', onReady);
      connection.once('close', onClose);
    });
    return this.readyWait;
  }

  /**
   * PINGs every `intervalMs` while ready and drops the socket (ioredis then reconnects and
   * re-subscribes) when no PONG comes within `timeoutMs`: a half-open connection raises no error
   * and would silently deliver nothing. Not for a Cluster, whose PING goes to any node.
   */
  startHeartbeat(intervalMs: number, timeoutMs: number): void {
    const connection = this.connection;
    if (!(connection instanceof Redis)) return;
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      if (connection.status !== 'ready') return;
      rejectAfter(connection.ping(), timeoutMs, 'no PONG').catch(() => {
        if (!this.closing && connection.status === 'ready') connection.disconnect(true);
      });
    }, intervalMs);
    this.heartbeat.unref(); // background work: must not keep the process alive
  }

  /** QUITs politely when connected, drops the socket otherwise; resolves when nothing is left open. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.heartbeat);
      const connection = this.connection;
      // A function, because the status changes under us while we await (TS would narrow a field).
      const status = (): string => connection.status;
      if (status() === 'ready') await settleWithin(connection.quit(), QUIT_TIMEOUT_MS);
      if (status() === 'end') return;
      // While 'reconnecting' there is no socket: disconnect() only clears the retry timer and
      // ioredis never emits 'end', hence the bounded wait.
      const ended = new Promise<void>((resolve) => connection.once('end', () => resolve()));
      connection.disconnect();
      if (status() !== 'end' && status() !== 'reconnecting') await settleWithin(ended, QUIT_TIMEOUT_MS);
    })();
    return this.closing;
  }
}
