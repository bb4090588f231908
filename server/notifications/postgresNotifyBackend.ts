import {
  assertPgChannelName,
  createPgNotifyTransport,
  type NotifyTransport,
  type PgNotifyTransportOptions,
} from '../store/pgListener.js';
import { createPgliteNotifyTransport, type PgliteLike } from '../store/pgliteListener.js';
import type { ChannelMessage } from './backend.js';
import { ChannelBackend } from './channelBackend.js';
import { SharedSubscriptions } from './sharedSubscriptions.js';

/** A listen not confirmed within this rejects, and its caller polls instead. */
export const DEFAULT_PG_SUBSCRIBE_TIMEOUT_MS = 5000;

export interface PostgresNotifyBackendOptions extends PgNotifyTransportOptions {
  subscribeTimeoutMs?: number;
  /** The LISTEN connection was lost (each failed reconnect attempt, too); silent by default. */
  onConnectionError?: (error: unknown) => void;
}

/**
 * Notifications over Postgres LISTEN/NOTIFY: no Redis needed. One dedicated LISTEN connection per
 * instance (reconnecting with backoff and jitter, re-LISTENing every live channel), channels
 * reference-counted like the Redis backend; NOTIFY goes through a small pool (or `notifyVia`).
 * Works on a real server (a `postgres://` DSN) and on an embedded PGlite instance, which stays the
 * caller's: `close()` does not close it.
 *
 * Postgres channel names are identifiers of at most 63 bytes; longer ones are rejected, never
 * truncated (`senpuki:execution:` + a UUID is 54).
 */
export class PostgresNotifyBackend extends ChannelBackend {
  /** What carries the notifications (health reports, banners). */
  readonly kind = 'postgres';
  private readonly transport: NotifyTransport;
  private readonly subscriptions: SharedSubscriptions;
  private closing: Promise<void> | undefined;


  constructor(source: string | PgliteLike, options: PostgresNotifyBackendOptions = {}) {
    super();
    const events = {
      onNotification: (channel: string, payload: string) => this.subscriptions.dispatch(channel, payload),
      onDisconnect: (error: unknown) => {
        this.subscriptions.failPending(new Error('Postgres LISTEN connection lost', { cause: error }));
        safely(() => options.onConnectionError?.(error));
        this.onDisconnect();
      },
      onReconnect: () => {
        this.subscriptions.resync();
        safely(() => this.onReconnect());
      },
    };
    this.transport =
      typeof source === 'string'
        ? createPgNotifyTransport(source, events, options)
        : createPgliteNotifyTransport(source, events);
    this.subscriptions = new SharedSubscriptions(
      { subscribe: (channel) => this.transport.listen(channel), unsubscribe: (channel) => this.transport.unlisten(channel) },
      {
        subscribeTimeoutMs: options.subscribeTimeoutMs ?? DEFAULT_PG_SUBSCRIBE_TIMEOUT_MS,
        onError: (error) => options.onConnectionError?.(error),
      },
    );
  }

  /** Channels currently LISTENed (metrics). */
  get subscribedChannelCount(): number {
    return this.subscriptions.channelCount;
  }

  /** Listeners over all channels (metrics). */
  get listenerCount(): number {
    return this.subscriptions.listenerCount;
  }

  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => void> {
    if (this.closing) throw new Error('PostgresNotifyBackend is closed');
    assertPgChannelName(channel);
    // Waiting out an outage here would stall the caller's snapshot read; it polls instead.
    if (this.transport.down) throw new Error('Postgres LISTEN connection is down');
    return this.subscriptions.listen(channel, onMessage);
  }

  protected async publishRaw(channel: string, payload: string): Promise<void> {
    if (this.closing) throw new Error('PostgresNotifyBackend is closed');
    await this.transport.notify(channel, payload);
  }

  /** One statement for all of them. */
  protected override async publishManyRaw(messages: readonly ChannelMessage[]): Promise<void> {
    if (this.closing) throw new Error('PostgresNotifyBackend is closed');
    await this.transport.notifyMany(messages);
  }

  /** Closes the LISTEN connection and our NOTIFY pool (idempotent); pending listens reject. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.subscriptions.clear(new Error('PostgresNotifyBackend is closed'));
      await this.transport.close();
    })();
    return this.closing;
  }
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A faulty hook must not break the connection handling.
  }
}
