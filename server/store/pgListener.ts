/**
 * The LISTEN/NOTIFY transport on a real Postgres server (PGlite's is in `pgliteListener.ts`):
 * one dedicated LISTEN connection, NOTIFY through a pool. Only this folder may import `pg`.
 *
 * The real-Postgres LISTEN connection:
 *
 *   idle ──listen──► connecting ──ok: LISTEN every wanted channel──► connected
 *    ▲                   │ fails                      error / end / terminated / heartbeat timeout
 *    │                   ▼                                            ▼
 *    └── no channels ── backoff (exponential + jitter, unref'd timer) ◄┘
 *   any ──close()──► closed
 */
import { ValidationError } from '../errors.js';
import pg from 'pg';
import type { Queryable } from './db.js';
import { serialQueries } from './serialQueries.js';
import { backoffDelayMs, type Backoff } from '../../client/backoff.js';
import { rejectAfter } from '../support/timers.js';

/** Postgres truncates identifiers to NAMEDATALEN - 1 bytes. */
export const MAX_PG_CHANNEL_BYTES = 63;
export const DEFAULT_PG_RECONNECT_MIN_DELAY_MS = 100;
export const DEFAULT_PG_RECONNECT_MAX_DELAY_MS = 10_000;
export const DEFAULT_PG_NOTIFY_TIMEOUT_MS = 2000;
export const DEFAULT_PG_CONNECT_TIMEOUT_MS = 5000;
/** How often the idle LISTEN connection proves it is alive (a half-open socket delivers nothing). */
export const DEFAULT_PG_HEARTBEAT_INTERVAL_MS = 30_000;
export const DEFAULT_PG_HEARTBEAT_TIMEOUT_MS = 5000;
/** LISTENs sent in one query when restoring channels after a reconnect. */
const RELISTEN_BATCH = 500;

/** Moves strings on channels; the caller reference-counts, so each channel is listened once. */
export interface NotifyTransport {
  /** LISTENs on `channel`; resolves once the server ran it. Restored by itself after reconnects. */
  listen(channel: string): Promise<void>;
  unlisten(channel: string): Promise<void>;
  notify(channel: string, payload: string): Promise<void>;
  /** Many NOTIFYs in one statement, in order. */
  notifyMany(messages: ReadonlyArray<{ channel: string; payload: string }>): Promise<void>;
  /** The LISTEN connection is known to be down (callers poll rather than wait). */
  readonly down: boolean;
  /** Idempotent; closes only what the transport opened. */
  close(): Promise<void>;
}

/** NOTIFYs of two parallel arrays, in array order, as one statement. */
export const NOTIFY_MANY_SQL = 'SELECT count(pg_notify(m.channel, m.payload)) FROM unnest($1::text[], $2::text[]) AS m(channel, payload)';

/** What a transport tells its owner. */
export interface NotifyTransportEvents {
  onNotification(channel: string, payload: string): void;
  /** The LISTEN connection was lost: listens in flight will not be confirmed. */
  onDisconnect?(error: unknown): void;
  /** The LISTEN connection is back and every channel is LISTENed again (messages may have been missed). */
  onReconnect?(): void;
}

export interface PgNotifyTransportOptions {
  /** Where NOTIFY runs (e.g. the store's pool); by default a small pool of our own. */
  notifyVia?: Queryable;
  reconnectMinDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Bound on connecting for and running a NOTIFY through our own pool. */
  notifyTimeoutMs?: number;
  /** Bound on opening the LISTEN connection. */
  connectTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** A heartbeat `SELECT 1` unanswered this long drops the connection and reconnects. */
  heartbeatTimeoutMs?: number;
  /** Extra node-postgres client options (ssl, ...) for our connections. */
  clientConfig?: pg.ClientConfig;
}

/** Checks a channel name Postgres can hold as is (rather than truncating it silently). */
export function assertPgChannelName(channel: string): void {
  const bytes = Buffer.byteLength(channel, 'utf8');
  if (bytes === 0 || bytes > MAX_PG_CHANNEL_BYTES || channel.includes('\0')) {
    throw new ValidationError(
      `Postgres channel names must be 1 to ${MAX_PG_CHANNEL_BYTES} bytes without NUL; "${channel}" has ${bytes} bytes`,
    );
  }
}

/** `channel` as a quoted identifier: case and punctuation (`senpuki:task:…`) are kept. */
export function quotePgChannel(channel: string): string {
  assertPgChannelName(channel);
  return `"${channel.replaceAll('"', '""')}"`;
}

/** A transport on a real Postgres server: one dedicated LISTEN connection, NOTIFY through a pool. */
export function createPgNotifyTransport(
  connectionString: string,
  events: NotifyTransportEvents,
  options: PgNotifyTransportOptions = {},
): NotifyTransport {
  const listener = new ListenConnection(connectionString, events, options);
  const notifier = new NotifySender(connectionString, options);
  let closing: Promise<void> | undefined;
  return {
    get down() {
      return listener.down;
    },
    listen: (channel) => listener.listen(channel),
    unlisten: (channel) => listener.unlisten(channel),
    notify: (channel, payload) => notifier.notifyMany([{ channel, payload }]),
    notifyMany: (messages) => notifier.notifyMany(messages),
    close() {
      closing ??= Promise.all([listener.close(), notifier.close()]).then(() => {});
      return closing;
    },
  };
}

/** The dedicated LISTEN connection and its state machine (the picture at the top of this file). */
class ListenConnection {
  private readonly channels = new Set<string>();
  private state: 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed' = 'idle';
  private client: pg.Client | undefined;
  // Each connection's queries go one at a time: LISTENs, UNLISTENs and heartbeats can overlap.
  private readonly serials = new WeakMap<pg.Client, ReturnType<typeof serialQueries>>();
  private connecting: Promise<pg.Client> | undefined;
  private failedConnects = 0;
  private reportedDown = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  // Jittered, so many processes do not reconnect in lockstep.
  private readonly reconnectBackoff: Backoff;
  private readonly connectTimeoutMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly heartbeatTimeoutMs: number;

  constructor(
    private readonly connectionString: string,
    private readonly events: NotifyTransportEvents,
    private readonly options: PgNotifyTransportOptions,
  ) {
    this.reconnectBackoff = {
      initialDelayMs: options.reconnectMinDelayMs ?? DEFAULT_PG_RECONNECT_MIN_DELAY_MS,
      maxDelayMs: options.reconnectMaxDelayMs ?? DEFAULT_PG_RECONNECT_MAX_DELAY_MS,
      factor: 2,
      jitter: 0.5,
      spread: 'below',
    };
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_PG_CONNECT_TIMEOUT_MS;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_PG_HEARTBEAT_INTERVAL_MS;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? DEFAULT_PG_HEARTBEAT_TIMEOUT_MS;
  }

  get down(): boolean {
    return this.state === 'backoff';
  }

  async listen(channel: string): Promise<void> {
    const sql = `LISTEN ${quotePgChannel(channel)}`;
    if (this.state === 'closed') throw new Error('NotifyTransport is closed');
    if (this.state === 'backoff') throw new Error('The Postgres LISTEN connection is down');
    this.channels.add(channel);
    try {
      // LISTEN is idempotent, so running it again after a (re)connect already did is harmless.
      await this.sendOn(await this.connect())(sql);
    } catch (error) {
      this.channels.delete(channel);
      throw error;
    }
  }

  async unlisten(channel: string): Promise<void> {
    const sql = `UNLISTEN ${quotePgChannel(channel)}`;
    this.channels.delete(channel);
    const current = this.client;
    if (!current || this.state !== 'connected') return; // the next connection will not LISTEN it
    try {
      await this.sendOn(current)(sql);
    } catch (error) {
      if (current === this.client) throw error; // a lost connection took its LISTENs with it
    }
  }

  async close(): Promise<void> {
    this.state = 'closed';
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    this.channels.clear();
    const current = this.client;
    this.client = undefined;
    await current?.end().catch(() => {});
  }

  private sendOn(target: pg.Client): ReturnType<typeof serialQueries> {
    let send = this.serials.get(target);
    if (!send) this.serials.set(target, (send = serialQueries(target)));
    return send;
  }

  // A method: TS would otherwise narrow `state` across the awaits in connect().
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private connect(): Promise<pg.Client> {
    if (this.client && this.state === 'connected') return Promise.resolve(this.client);
    const connecting = (this.connecting ??= this.openConnection());
    connecting
      .catch((error: unknown) => {
        if (this.isClosed()) return;
        this.reportedDown = true;
        this.events.onDisconnect?.(error);
        this.scheduleReconnect();
      })
      .finally(() => (this.connecting = undefined));
    return connecting;
  }

  private async openConnection(): Promise<pg.Client> {
    this.state = 'connecting';
    const next = new pg.Client({
      application_name: 'senpuki:listener',
      connectionTimeoutMillis: this.connectTimeoutMs,
      keepAlive: true,
      ...this.options.clientConfig,
      connectionString: this.connectionString,
    });
    next.on('notification', (message) => this.events.onNotification(message.channel, message.payload ?? ''));
    next.on('error', (error) => this.lost(next, error));
    next.on('end', () => this.lost(next, new Error('LISTEN connection ended')));
    try {
      await next.connect();
      const wanted = [...this.channels];
      for (let i = 0; i < wanted.length; i += RELISTEN_BATCH) {
        await this.sendOn(next)(wanted.slice(i, i + RELISTEN_BATCH).map((c) => `LISTEN ${quotePgChannel(c)}`).join('; '));
      }
    } catch (error) {
      next.end().catch(() => {});
      throw error;
    }
    if (this.isClosed()) {
      next.end().catch(() => {});
      throw new Error('NotifyTransport is closed');
    }
    this.client = next;
    this.state = 'connected';
    this.failedConnects = 0;
    this.startHeartbeat(next);
    // Also after a first connection that failed: whoever heard of the outage hears of its end.
    if (this.reportedDown) this.events.onReconnect?.();
    this.reportedDown = false;
    return next;
  }

  private lost(which: pg.Client, error: unknown): void {
    if (which !== this.client) return; // an attempt that failed is handled where it was awaited
    this.client = undefined;
    clearInterval(this.heartbeat);
    which.end().catch(() => {});
    if (this.isClosed()) return;
    this.reportedDown = true;
    this.events.onDisconnect?.(error);
    this.scheduleReconnect();
  }

  private startHeartbeat(current: pg.Client): void {
    clearInterval(this.heartbeat);
    const timeoutMs = this.heartbeatTimeoutMs;
    this.heartbeat = setInterval(() => {
      rejectAfter(this.sendOn(current)('SELECT 1'), timeoutMs, `LISTEN connection heartbeat unanswered for ${timeoutMs}ms`).catch((error: unknown) =>
        this.lost(current, error),
      );
    }, this.heartbeatIntervalMs);
    this.heartbeat.unref(); // background work: must not keep the process alive
  }

  private scheduleReconnect(): void {
    if (this.channels.size === 0) {
      this.state = 'idle'; // nobody listens: reconnect on the next listen instead
      return;
    }
    this.state = 'backoff';
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect().catch(() => {}), backoffDelayMs(++this.failedConnects, this.reconnectBackoff));
    this.retryTimer.unref(); // a background retry must not keep the process alive
  }
}

/** NOTIFY through the store's pool, or through a small pool of our own opened on first use. */
class NotifySender {
  private ownPool: pg.Pool | undefined;
  private closed = false;

  constructor(
    private readonly connectionString: string,
    private readonly options: PgNotifyTransportOptions,
  ) {}

  async notifyMany(messages: ReadonlyArray<{ channel: string; payload: string }>): Promise<void> {
    for (const { channel } of messages) assertPgChannelName(channel);
    if (this.closed) throw new Error('NotifyTransport is closed');
    if (messages.length === 1) await this.via().query('SELECT pg_notify($1, $2)', [messages[0]!.channel, messages[0]!.payload]);
    else await this.via().query(NOTIFY_MANY_SQL, [messages.map((m) => m.channel), messages.map((m) => m.payload)]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.ownPool?.end().catch(() => {});
  }

  private via(): Queryable {
    if (this.options.notifyVia) return this.options.notifyVia;
    if (!this.ownPool) {
      const timeoutMs = this.options.notifyTimeoutMs ?? DEFAULT_PG_NOTIFY_TIMEOUT_MS;
      this.ownPool = new pg.Pool({
        max: 2,
        application_name: 'senpuki:notify',
        connectionTimeoutMillis: timeoutMs,
        query_timeout: timeoutMs,
        allowExitOnIdle: true,
        ...this.options.clientConfig,
        connectionString: this.connectionString,
      });
      this.ownPool.on('error', () => {}); // an idle client dying must not crash the process
    }
    return this.ownPool;
  }
}
