import { createClient, type Client as WsClient } from 'graphql-ws/client';
import { reconnectDelayMs, type RetryOptions } from './backoff.js';
import type { ConnectionEvent, SubscriptionTransport } from './transport.js';

/** Socket reconnect attempts before subscriptions fail; a realtime view keeps trying. */
export const DEFAULT_WS_RETRY_ATTEMPTS = Infinity;
/** Keeps an idle socket open briefly, so subscriptions started one after another share it. */
export const DEFAULT_WS_LAZY_CLOSE_TIMEOUT_MS = 1000;
/** Client pings this often; a dead connection is noticed without waiting for TCP. */
export const DEFAULT_WS_KEEP_ALIVE_MS = 10_000;

export interface WsTransportOptions {
  /** ws:// or wss:// URL of the GraphQL endpoint. */
  url: string;
  /** A WebSocket class (Node < 22: `ws`); default: the global one. */
  webSocketImpl?: unknown;
  /** Called on every (re)connect: the credential travels in connectionParams. */
  connectionParams: () => Promise<Record<string, unknown>>;
  retry?: RetryOptions;
  retryAttempts?: number;
  keepAliveMs?: number;
  lazyCloseTimeoutMs?: number;
}

/**
 * graphql-ws: one socket carries every subscription. graphql-ws reconnects by itself and resends
 * the active subscriptions; we widen its retry rule, since its default (`shouldRetry` =
 * close events only) gives up when a reconnect meets a refused connection (an `error` event),
 * which is exactly what a server restart looks like. Fatal close codes (4400, 4401, 4406, ...)
 * still end the subscriptions, before `shouldRetry` is asked.
 */
export function createWsTransport(options: WsTransportOptions): SubscriptionTransport {
  const listeners = new Set<(event: ConnectionEvent) => void>();
  const notify = (event: ConnectionEvent) => {
    for (const listener of listeners) listener(event);
  };
  let dropped = false;
  let reauthenticating = false;
  let active = 0;
  const client: WsClient = createClient({
    url: options.url,
    webSocketImpl: options.webSocketImpl,
    lazy: true,
    lazyCloseTimeout: options.lazyCloseTimeoutMs ?? DEFAULT_WS_LAZY_CLOSE_TIMEOUT_MS,
    keepAlive: options.keepAliveMs ?? DEFAULT_WS_KEEP_ALIVE_MS,
    connectionParams: options.connectionParams,
    retryAttempts: options.retryAttempts ?? DEFAULT_WS_RETRY_ATTEMPTS,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, reconnectDelayMs(retries + 1, options.retry))),
    shouldRetry: () => true,
    on: {
      connected: () => {
        reauthenticating = false;
        if (dropped) {
          dropped = false;
          notify('connected');
        }
      },
      closed: () => {
        // An idle socket closing (no subscriptions) is no drop.
        if (active > 0 && !dropped) {
          dropped = true;
          notify('dropped');
        }
      },
    },
  });
  return {
    kind: 'ws',
    reconnects: true,
    subscribe(request, sink) {
      active++;
      let stopped = false;
      const release = () => {
        if (!stopped) {
          stopped = true;
          active--;
        }
      };
      const unsubscribe = client.subscribe(request as never, {
        next: (value) => sink.next(value as never),
        error: (error) => {
          release();
          sink.error(error);
        },
        complete: () => {
          release();
          sink.complete();
        },
      });
      return () => {
        release();
        unsubscribe();
      };
    },
    onConnection(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reauthenticate() {
      // One reconnect for every subscription whose token expired at the same moment.
      if (reauthenticating) return;
      reauthenticating = true;
      // terminate() closes with 4499, which graphql-ws retries: the new socket calls
      // connectionParams, hence getToken, again, and resends the active subscriptions.
      client.terminate();
    },
    async dispose() {
      listeners.clear();
      await client.dispose();
    },
  };
}
