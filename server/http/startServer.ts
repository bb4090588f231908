import { createServer, type Server } from 'node:http';
import type { Senpuki } from '../engine/senpuki.js';
import { DEFAULT_CLOSE_GRACE_MS, DEFAULT_HOST, DEFAULT_PORT, isLoopbackHost, type ServerConfig } from './config.js';
import { createGraphQLApp, type GraphQLApp } from './createApp.js';
import { createEngine } from '../engine/createEngine.js';
import { listen } from './listen.js';

/** A running server. */
export interface SenpukiServer {
  /** Base URL, e.g. http://127.0.0.1:4000 (GraphQL, SSE and graphql-ws at `graphqlUrl`). */
  readonly url: string;
  readonly graphqlUrl: string;
  readonly senpuki: Senpuki;
  /** The application (for `app.yoga.fetch`, metrics and subscription counts). */
  readonly app: GraphQLApp;
  /**
   * Shuts down in order: ends every subscription (clients get `complete`), closes graphql-ws
   * sockets, disposes Yoga, closes the HTTP server and its connections, and closes the engine
   * when the server built it. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Starts the GraphQL server (HTTP, SSE and graphql-ws on one path, GraphiQL, /healthz, /metrics)
 * for the given engine, or for one built from `config.engine`. Workers are not started here:
 * run `senpuki.serve()` where you want them.
 */
export async function startServer(config: ServerConfig = {}): Promise<SenpukiServer> {
  const ownsEngine = !config.senpuki;
  const senpuki = config.senpuki ?? (await createEngine(config.engine));
  const logger = config.logger ?? senpuki.logger.child({ component: 'http' });
  let app: GraphQLApp | undefined;
  let server: Server | undefined;
  try {
    app = createGraphQLApp({ ...config, host: config.host ?? DEFAULT_HOST, senpuki, logger });
    server = createServer(app.yoga);
    const ws = app.attach(server);
    const host = config.host ?? DEFAULT_HOST;
    const base = await listen(server, config.port ?? DEFAULT_PORT, host);
    const graphqlUrl = `${base}${config.graphqlPath ?? '/graphql'}`;
    if (!app.authenticator.keysConfigured && !isLoopbackHost(host)) {
      logger.warn(
        { host },
        'No API keys are configured and the server listens on a non-loopback address: it answers only requests addressed to localhost (or allowedHosts), and anyone who can reach it under such a name may dispatch and cancel executions. Set apiKeys (SENPUKI_API_KEYS).',
      );
    }
    logger.info({ url: graphqlUrl }, 'GraphQL server listening');
    const graceMs = config.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
    const httpServer = server;
    const graphQLApp = app;
    let closing: Promise<void> | undefined;
    return {
      url: base,
      graphqlUrl,
      senpuki,
      app: graphQLApp,
      close() {
        closing ??= (async () => {
          await graphQLApp.endSubscriptions(graceMs);
          await ws.close(graceMs);
          await graphQLApp.dispose();
          await closeHttpServer(httpServer, graceMs);
          if (ownsEngine) await senpuki.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await app?.dispose().catch(() => {});
    if (server?.listening) await closeHttpServer(server, 0).catch(() => {});
    if (ownsEngine) await senpuki.close().catch(() => {});
    throw error;
  }
}

/** Stops listening, lets in-flight responses (SSE streams ending) finish for `graceMs`, then cuts the rest. */
async function closeHttpServer(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  try {
    await closed;
  } finally {
    clearTimeout(timer);
  }
}
