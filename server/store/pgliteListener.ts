/**
 * The LISTEN/NOTIFY transport on an embedded PGlite instance (or a PGliteWorker): in-process, so
 * it is never down. The instance belongs to the caller: `close()` leaves it open.
 */
import { NOTIFY_MANY_SQL, assertPgChannelName, quotePgChannel, type NotifyTransport, type NotifyTransportEvents } from './pgListener.js';

/** The subset of a PGlite instance (or PGliteWorker) the transport uses. */
export interface PgliteLike {
  exec(sql: string): Promise<unknown>;
  query(sql: string, params?: unknown[]): Promise<unknown>;
  onNotification(callback: (channel: string, payload: string) => void): () => void;
}

/**
 * PGlite's own `listen()` pastes the channel into `LISTEN` unquoted (so `senpuki:task:…` is a
 * syntax error), hence quoted LISTENs of our own and its global notification callback.
 */
export function createPgliteNotifyTransport(pglite: PgliteLike, events: NotifyTransportEvents): NotifyTransport {
  let closed = false;
  const channels = new Set<string>();
  const stop = pglite.onNotification((channel, payload) => {
    if (!closed) events.onNotification(channel, payload);
  });
  const ensureOpen = () => {
    if (closed) throw new Error('NotifyTransport is closed');
  };
  return {
    down: false,
    async listen(channel) {
      const sql = `LISTEN ${quotePgChannel(channel)}`;
      ensureOpen();
      await pglite.exec(sql);
      channels.add(channel);
    },
    async unlisten(channel) {
      const sql = `UNLISTEN ${quotePgChannel(channel)}`;
      ensureOpen();
      channels.delete(channel);
      await pglite.exec(sql);
    },
    async notify(channel, payload) {
      assertPgChannelName(channel);
      ensureOpen();
      await pglite.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async notifyMany(messages) {
      for (const { channel } of messages) assertPgChannelName(channel);
      ensureOpen();
      await pglite.query(NOTIFY_MANY_SQL, [messages.map((m) => m.channel), messages.map((m) => m.payload)]);
    },
    async close() {
      if (closed) return;
      closed = true;
      stop();
      // The instance lives on (it is the store's); leave no LISTEN of ours in its session.
      const ours = [...channels];
      channels.clear();
      if (ours.length > 0) await pglite.exec(ours.map((c) => `UNLISTEN ${quotePgChannel(c)}`).join('; ')).catch(() => {});
    },
  };
}
