import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';

export interface WsExtra {
  socket: WebSocket;
  request: IncomingMessage;
  /** Sends one message as graphql-ws's own sends go (corked per turn, waiting on a slow client). */
  send(data: string): void | Promise<void>;
}

/** Takes a message before graphql-ws does (true: handled); the rest go to graphql-ws. */
export type MessageInterceptor<X> = (text: string, extra: X) => boolean;

/** Queued bytes on one socket above which a send waits for the socket to drain (a slow client). */
const HIGH_WATER_BYTES = 1024 * 1024;

/**
 * graphql-ws's protocol server (`makeServer`) on a `ws` server: what `graphql-ws/use/ws` does,
 * with the one difference that matters when a row change goes to thousands of subscriptions:
 * sends are not awaited one by one, and every socket is corked until the event loop turns, so
 * the messages one burst puts on a socket leave in one write instead of a system call each.
 * A socket whose client reads slowly (more than HIGH_WATER_BYTES queued) makes its senders wait.
 */
export function serveGraphQLWs<E extends Record<PropertyKey, unknown>>(
  options: ServerOptions<Record<string, unknown> | undefined, WsExtra & Partial<E>>,
  wss: WebSocketServer,
  keepAliveMs: number,
  logger: Logger,
  intercept?: MessageInterceptor<WsExtra & Partial<E>>,
): { dispose(): Promise<void> } {
  const server = makeServer(options);
  wss.options.handleProtocols = handleProtocols;
  wss.once('error', (error) => {
    logger.error({ err: error }, 'graphql-ws server error');
    for (const client of wss.clients) client.close(CloseCode.InternalServerError, 'Internal server error');
  });
  wss.on('connection', (socket, request) => {
    const raw = (socket as unknown as { _socket?: Socket })._socket; // ws keeps no public handle on it
    let corked = false;
    const uncork = () => {
      corked = false;
      raw?.uncork();
    };
    socket.once('error', (error) => {
      logger.warn({ err: error }, 'graphql-ws socket error');
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
    let pongWait: NodeJS.Timeout | undefined;
    const pinger =
      keepAliveMs > 0 && Number.isFinite(keepAliveMs)
        ? setInterval(() => {
            if (socket.readyState !== socket.OPEN) return;
            pongWait = setTimeout(() => socket.terminate(), keepAliveMs);
            socket.once('pong', () => clearTimeout(pongWait));
            socket.ping();
          }, keepAliveMs)
        : undefined;
    const send = (data: string): void | Promise<void> => {
      if (socket.readyState !== socket.OPEN) return;
      if (raw && !corked) {
        corked = true;
        raw.cork();
        setImmediate(uncork);
      }
      if (socket.bufferedAmount < HIGH_WATER_BYTES) return void socket.send(data);
      return new Promise<void>((resolve, reject) => socket.send(data, (error) => (error ? reject(error) : resolve())));
    };
    const extra = { socket, request, send } as WsExtra & Partial<E>;
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send,
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', async (data) => {
            try {
              const text = String(data);
              if (intercept?.(text, extra)) return;
              await handle(text);
            } catch (error) {
              logger.error({ err: error }, 'graphql-ws message handling failed');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            }
          }),
      },
      extra,
    );
    socket.once('close', (code, reason) => {
      clearTimeout(pongWait);
      clearInterval(pinger);
      void closed(code, String(reason));
    });
  });
  return {
    async dispose() {
      for (const client of wss.clients) client.close(1001, 'Going away');
      wss.removeAllListeners();
      await new Promise<void>((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
