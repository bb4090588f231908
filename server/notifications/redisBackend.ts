import type { ConnectionOptions } from 'node:tls';
import { Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { ChannelMessage } from './backend.js';
import { ChannelBackend } from './channelBackend.js';
import { RedisLink, createRedisConnection, type RedisRole } from './redisLink.js';
import { parseRedisUrl, type RedisConnectionDescription } from './redisUrl.js';
import { SharedSubscriptions } from './sharedSubscriptions.js';

/** Base of the connections' `CLIENT SETNAME` (`senpuki:subscriber`, `senpuki:publisher`). */
export const DEFAULT_REDIS_CONNECTION_NAME = 'senpuki';
/** A publish that cannot complete within this is dropped (reported to `onPublishError`). */
export const DEFAULT_REDIS_PUBLISH_TIMEOUT_MS = 1000;
/** A listen not confirmed within this rejects, and its caller polls instead. */
export const DEFAULT_REDIS_SUBSCRIBE_TIMEOUT_MS = 5000;
/** How often the subscriber PINGs to prove it is alive (a half-open socket delivers nothing). */
export const DEFAULT_REDIS_HEARTBEAT_INTERVAL_MS = 30_000;
/** A PING unanswered this long drops the subscriber's socket; ioredis reconnects and re-subscribes. */
export const DEFAULT_REDIS_HEARTBEAT_TIMEOUT_MS = 5000;

export interface RedisBackendOptions {
  /** TLS socket options (CA, client certificate…); given, they turn TLS on, as `rediss://` does. */
  tls?: ConnectionOptions;
  /** Base of `CLIENT SETNAME`; the two connections get `:subscriber` and `:publisher` appended. */
  connectionName?: string;
  publishTimeoutMs?: number;
  subscribeTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  /** Extra ioredis options for every connection, e.g. `sentinelPassword` or `retryStrategy`. */
  redisOptions?: RedisOptions;
  /** Extra `new Cluster` options (comma-separated hosts only). */
  clusterOptions?: ClusterOptions;
  /** Connection errors (each failed reconnect attempt, too); silent by default. */
  onConnectionError?: (error: unknown, role: RedisRole) => void;
}

/**
 * Redis Pub/Sub notifications over exactly two connections per instance, whatever the number of
 * waits: one shared subscriber (opened on the first listen, channels reference-counted) and one
 * publisher (opened on the first publish). The spec's original opened a pub/sub connection per
 * subscription and exhausted connection pools at ~100 concurrent waits.
 *
 * Failure behaviour: publishing never throws and never waits long (see `redisLink.ts`); a listen
 * rejects at once while the subscriber is known to be down, so the caller polls instead; existing
 * subscriptions come back by themselves when Redis does (ioredis re-subscribes).
 */
export class RedisBackend extends ChannelBackend {
  /** What carries the notifications (health reports, banners). */
  readonly kind = 'redis';
  private readonly description: RedisConnectionDescription;
  private readonly connectionName: string;
  private readonly publishTimeoutMs: number;
  private readonly subscriptions: SharedSubscriptions;
  private subscriber: RedisLink | undefined;
  private publisher: RedisLink | undefined;
  private closing: Promise<void> | undefined;


  /** @throws ValidationError when `url` is not one of the accepted forms (nothing is opened). */
  constructor(
    url: string,
    private readonly options: RedisBackendOptions = {},
  ) {
    super();
    this.description = parseRedisUrl(url, { tls: options.tls });
    this.connectionName = options.connectionName ?? DEFAULT_REDIS_CONNECTION_NAME;
    this.publishTimeoutMs = options.publishTimeoutMs ?? DEFAULT_REDIS_PUBLISH_TIMEOUT_MS;
    this.subscriptions = new SharedSubscriptions(
      {
        subscribe: async (channel) => {
          const link = this.subscriberLink();
          // ioredis lets SUBSCRIBE overtake its INFO ready check on a fresh connection, which then
          // fails the check ("Connection in subscriber mode"): subscribe only once it is ready.
          await link.whenReady(options.subscribeTimeoutMs ?? DEFAULT_REDIS_SUBSCRIBE_TIMEOUT_MS);
          await link.connection.subscribe(channel);
        },
        unsubscribe: async (channel) => {
          await this.subscriberLink().connection.unsubscribe(channel);
        },
      },
      {
        subscribeTimeoutMs: options.subscribeTimeoutMs ?? DEFAULT_REDIS_SUBSCRIBE_TIMEOUT_MS,
        onError: (error) => options.onConnectionError?.(error, 'subscriber'),
      },
    );
  }

  /** Which kind of deployment the URL named. */
  get mode(): RedisConnectionDescription['mode'] {
    return this.description.mode;
  }

  /**
   * False while the subscriber connection is known to be down: change feeds then poll at their
   * fast rate instead of trusting push (messages are lost meanwhile).
   */
  override get connected(): boolean {
    return !this.subscriber?.down;
  }

  /** Channels currently subscribed on the shared connection (metrics). */
  get subscribedChannelCount(): number {
    return this.subscriptions.channelCount;
  }

  /** Listeners over all channels (metrics). */
  get listenerCount(): number {
    return this.subscriptions.listenerCount;
  }

  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => void> {
    if (this.closing) throw new Error('RedisBackend is closed');
    const link = this.subscriberLink();
    // Waiting out an outage here would stall the caller's snapshot read; it polls instead.
    if (link.down) throw new Error(`Redis subscriber connection is down (${link.connection.status})`);
    return this.subscriptions.listen(channel, onMessage);
  }

  protected async publishRaw(channel: string, payload: string): Promise<void> {
    if (this.closing) throw new Error('RedisBackend is closed');
    this.publisher ??= this.createLink('publisher');
    await this.publisher.whenReady(this.publishTimeoutMs);
    await this.publisher.connection.publish(channel, payload);
  }

  /**
   * One pipeline: every PUBLISH in one write and one round trip. A Cluster routes each command by
   * its own slot, so there they go one by one.
   */
  protected override async publishManyRaw(messages: readonly ChannelMessage[]): Promise<void> {
    if (this.closing) throw new Error('RedisBackend is closed');
    this.publisher ??= this.createLink('publisher');
    const connection = this.publisher.connection;
    if (!(connection instanceof Redis)) return super.publishManyRaw(messages);
    await this.publisher.whenReady(this.publishTimeoutMs);
    const pipeline = connection.pipeline();
    for (const { channel, payload } of messages) pipeline.publish(channel, payload);
    const replies = (await pipeline.exec()) ?? [];
    const failed = replies.find(([error]) => error);
    if (failed) throw failed[0];
  }

  /** Closes both connections (idempotent); pending listens reject. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.subscriptions.clear(new Error('RedisBackend is closed'));
      await Promise.all([this.subscriber?.close(), this.publisher?.close()]);
    })();
    return this.closing;
  }

  private subscriberLink(): RedisLink {
    if (this.subscriber) return this.subscriber;
    const link = this.createLink('subscriber');
    const connection = link.connection;
    connection.on('message', (channel: string, message: string) => this.subscriptions.dispatch(channel, message));
    // A SUBSCRIBE in flight stays queued and completes after the reconnect; its waiter gives up now.
    // Listeners hear of each outage once, and of its end once, also when the link was first opened
    // during the outage (a process that starts listening while Redis is down).
    let reportedDown = false;
    connection.on('close', () => {
      this.subscriptions.failPending(new Error('Redis subscriber connection lost'));
      if (reportedDown) return;
      reportedDown = true;
      this.onDisconnect();
    });
    connection.on('ready', () => {
      // Retries UNSUBSCRIBEs that failed meanwhile; confirmed channels are re-subscribed by ioredis.
      this.subscriptions.resync();
      if (!reportedDown) return;
      reportedDown = false;
      queueMicrotask(() => void this.afterResubscribe(link));
    });
    link.startHeartbeat(
      this.options.heartbeatIntervalMs ?? DEFAULT_REDIS_HEARTBEAT_INTERVAL_MS,
      this.options.heartbeatTimeoutMs ?? DEFAULT_REDIS_HEARTBEAT_TIMEOUT_MS,
    );
    this.subscriber = link;
    return link;
  }

  /**
   * ioredis emits 'ready' before it sends the re-SUBSCRIBE; a PING queued behind it (allowed in
   * subscriber mode) is answered after all of them. (A Cluster's PING may go to another node, so
   * there the hook is best effort.)
   */
  private async afterResubscribe(link: RedisLink): Promise<void> {
    try {
      await link.connection.ping();
    } catch {
      return; // lost again; the next 'ready' tries once more
    }
    try {
      this.onReconnect();
    } catch {
      // A faulty hook must not break the subscriber.
    }
  }

  private createLink(role: RedisRole): RedisLink {
    const connection = createRedisConnection(this.description, role, {
      connectionName: `${this.connectionName}:${role}`,
      publishTimeoutMs: this.publishTimeoutMs,
      redisOptions: this.options.redisOptions,
      clusterOptions: this.options.clusterOptions,
    });
    return new RedisLink(connection, role, (error) => this.options.onConnectionError?.(error, role));
  }
}
