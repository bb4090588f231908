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

/** What a transport tells its owner. */
/** NOTIFYs of two parallel arrays, in array order, as one statement. */
export const NOTIFY_MANY_SQL = 'SELECT count(pg_notify(m.channel, m.payload)) FROM unnest($1::text[], $2::text[]) AS m(channel, payload)';

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
  // Jittered, so many processes do not reconnect in lockstep.
  const reconnectBackoff: Backoff = {
    initialDelayMs: options.reconnectMinDelayMs ?? DEFAULT_PG_RECONNECT_MIN_DELAY_MS,
    maxDelayMs: options.reconnectMaxDelayMs ?? DEFAULT_PG_RECONNECT_MAX_DELAY_MS,
    factor: 2,
    jitter: 0.5,
    spread: 'below',
  };
  const notifyTimeoutMs = options.notifyTimeoutMs ?? DEFAULT_PG_NOTIFY_TIMEOUT_MS;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_PG_CONNECT_TIMEOUT_MS;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_PG_HEARTBEAT_INTERVAL_MS;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? DEFAULT_PG_HEARTBEAT_TIMEOUT_MS;
  const channels = new Set<string>();
  let state: 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed' = 'idle';
  let client: pg.Client | undefined;
  // Each connection's queries go one at a time: LISTENs, UNLISTENs and heartbeats can overlap.
  const serials = new WeakMap<pg.Client, ReturnType<typeof serialQueries>>();
  const sendOn = (target: pg.Client) => {
    let send = serials.get(target);
    if (!send) serials.set(target, (send = serialQueries(target)));
    return send;
  };
  let connecting: Promise<pg.Client> | undefined;
  let failedConnects = 0;
  let everConnected = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let ownPool: pg.Pool | undefined;
  let closing: Promise<void> | undefined;
  // A function: TS would otherwise narrow `state` across the awaits below.
  const isClosed = () => state === 'closed';

  const connect = (): Promise<pg.Client> => {
    if (client && state === 'connected') return Promise.resolve(client);
    connecting ??= (async () => {
      state = 'connecting';
      const next = new pg.Client({
        application_name: 'senpuki:listener',
        connectionTimeoutMillis: connectTimeoutMs,
        keepAlive: true,
        ...options.clientConfig,
        connectionString,
      });
      next.on('notification', (message) => events.onNotification(message.channel, message.payload ?? ''));
      next.on('error', (error) => lost(next, error));
      next.on('end', () => lost(next, new Error('LISTEN connection ended')));
      try {
        await next.connect();
        const wanted = [...channels];
        for (let i = 0; i < wanted.length; i += RELISTEN_BATCH) {
          await sendOn(next)(wanted.slice(i, i + RELISTEN_BATCH).map((c) => `LISTEN ${quotePgChannel(c)}`).join('; '));
        }
      } catch (error) {
        next.end().catch(() => {});
        throw error;
      }
      if (isClosed()) {
        next.end().catch(() => {});
        throw new Error('NotifyTransport is closed');
      }
      client = next;
      state = 'connected';
      failedConnects = 0;
      startHeartbeat(next);
      if (everConnected) events.onReconnect?.();
      everConnected = true;
      return next;
    })();
    connecting
      .catch((error: unknown) => {
        if (state === 'closed') return;
        events.onDisconnect?.(error);
        scheduleReconnect();
      })
      .finally(() => (connecting = undefined));
    return connecting;
  };

  function lost(which: pg.Client, error: unknown): void {
    if (which !== client) return; // an attempt that failed is handled where it was awaited
    client = undefined;
    clearInterval(heartbeat);
    which.end().catch(() => {});
    if (state === 'closed') return;
    events.onDisconnect?.(error);
    scheduleReconnect();
  }

  function startHeartbeat(current: pg.Client): void {
    clearInterval(heartbeat);
    heartbeat = setInterval(() => {
      rejectAfter(sendOn(current)('SELECT 1'), heartbeatTimeoutMs, `LISTEN connection heartbeat unanswered for ${heartbeatTimeoutMs}ms`).catch(
        (error: unknown) => lost(current, error),
      );
    }, heartbeatIntervalMs);
    heartbeat.unref(); // background work: must not keep the process alive
  }

  function scheduleReconnect(): void {
    if (channels.size === 0) {
      state = 'idle'; // nobody listens: reconnect on the next listen instead
      return;
    }
    state = 'backoff';
    const delayMs = backoffDelayMs(++failedConnects, reconnectBackoff);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => void connect().catch(() => {}), delayMs);
    retryTimer.unref(); // a background retry must not keep the process alive
  }

  const notifier = (): Queryable => {
    if (options.notifyVia) return options.notifyVia;
    if (!ownPool) {
      ownPool = new pg.Pool({
        max: 2,
        application_name: 'senpuki:notify',
        connectionTimeoutMillis: notifyTimeoutMs,
        query_timeout: notifyTimeoutMs,
        allowExitOnIdle: true,
        ...options.clientConfig,
        connectionString,
      });
      ownPool.on('error', () => {}); // an idle client dying must not crash the process
    }
    return ownPool;
  };

  return {
    get down() {
      return state === 'backoff';
    },
    async listen(channel) {
      const sql = `LISTEN ${quotePgChannel(channel)}`;
      if (state === 'closed') throw new Error('NotifyTransport is closed');
      if (state === 'backoff') throw new Error('The Postgres LISTEN connection is down');
      channels.add(channel);
      try {
        // LISTEN is idempotent, so running it again after a (re)connect already did is harmless.
        await sendOn(await connect())(sql);
      } catch (error) {
        channels.delete(channel);
        throw error;
      }
    },
    async unlisten(channel) {
      const sql = `UNLISTEN ${quotePgChannel(channel)}`;
      channels.delete(channel);
      const current = client;
      if (!current || state !== 'connected') return; // the next connection will not LISTEN it
      try {
        await sendOn(current)(sql);
      } catch (error) {
        if (current === client) throw error; // a lost connection took its LISTENs with it
      }
    },
    async notify(channel, payload) {
      assertPgChannelName(channel);
      if (state === 'closed') throw new Error('NotifyTransport is closed');
      await notifier().query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async notifyMany(messages) {
      for (const { channel } of messages) assertPgChannelName(channel);
      if (state === 'closed') throw new Error('NotifyTransport is closed');
      await notifier().query(NOTIFY_MANY_SQL, [messages.map((m) => m.channel), messages.map((m) => m.payload)]);
    },
    close() {
      closing ??= (async () => {
        state = 'closed';
        clearTimeout(retryTimer);
        clearInterval(heartbeat);
        channels.clear();
        const current = client;
        client = undefined;
        await Promise.all([current?.end().catch(() => {}), ownPool?.end().catch(() => {})]);
      })();
      return closing;
    },
  };
}
