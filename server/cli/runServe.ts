import type { Logger } from 'pino';
import type { Senpuki } from '../engine/senpuki.js';
import type { Worker } from '../engine/worker.js';
import { graphiqlEnabled, serverConfigFromEnv, type ServerConfig } from '../http/config.js';
import { createEngine } from '../engine/createEngine.js';
import { startServer, type SenpukiServer } from '../http/startServer.js';
import { startMetricsServer, type MetricsServer } from '../http/metricsServer.js';
import { useDashboard } from '../http/useDashboard.js';
import { EXAMPLES_MODULE, registerFunctionModules } from './loadFunctions.js';

export interface ServeOptions {
  port?: number;
  host?: string;
  databaseUrl?: string;
  redisUrl?: string;
  dataDir?: string;
  /** Modules exporting durable functions; default: the examples. */
  functions?: string[];
  /** Worker slots in this process; 0 serves the API without a worker. */
  concurrency?: number;
  queues?: string[];
  /** Lease of the worker's tasks (default 30 s). */
  leaseMs?: number;
  apiKeys?: string[];
  allowedOrigins?: string[];
  allowedHosts?: string[];
  /** `worker` only: serve /metrics and /healthz on this port. */
  metricsPort?: number;
  metricsHost?: string;
  /** Serve GraphiQL (default: SENPUKI_GRAPHIQL, else unless NODE_ENV is production). */
  graphiql?: boolean;
  logger: Logger;
}

/** What a running `serve` or `worker` command holds, and how to stop it in order. */
export interface Running {
  senpuki: Senpuki;
  worker: Worker | undefined;
  server: SenpukiServer | undefined;
  /** A worker's metrics port, when asked for. */
  metrics?: MetricsServer;
  /** Example arguments the functions modules exported, by function name (for the banner and the dashboard). */
  exampleArgs: Record<string, unknown[]>;
  /** Whether the server serves GraphiQL. */
  graphiql: boolean;
  /** Drains the worker, closes the server, then the engine. Idempotent. */
  stop(): Promise<void>;
}

function engineConfig(options: ServeOptions, env: ServerConfig['engine']) {
  return {
    databaseUrl: options.databaseUrl ?? env?.databaseUrl,
    redisUrl: options.redisUrl ?? env?.redisUrl,
    dataDir: options.dataDir ?? env?.dataDir,
    options: { logger: options.logger },
  };
}

async function startEngine(options: ServeOptions, envConfig: ServerConfig) {
  const senpuki = await createEngine(engineConfig(options, envConfig.engine));
  try {
    const loaded = await registerFunctionModules(senpuki, options.functions?.length ? options.functions : [EXAMPLES_MODULE]);
    const worker =
      options.concurrency === 0 ? undefined : await senpuki.serve({ concurrency: options.concurrency, queues: options.queues, leaseMs: options.leaseMs });
    return { senpuki, worker, loaded };
  } catch (error) {
    await senpuki.close();
    throw error;
  }
}

/** `senpuki serve`: engine, worker and the GraphQL server with the dashboard, in one process. */
export async function runServe(options: ServeOptions, env: NodeJS.ProcessEnv = process.env): Promise<Running> {
  const envConfig = serverConfigFromEnv(env);
  const { senpuki, worker, loaded } = await startEngine(options, envConfig);
  const graphiql = graphiqlEnabled({ graphiql: options.graphiql ?? envConfig.graphiql }, env);
  let server: SenpukiServer;
  try {
    server = await startServer({
      ...envConfig,
      graphiql,
      senpuki,
      host: options.host ?? envConfig.host,
      port: options.port ?? envConfig.port,
      apiKeys: options.apiKeys?.length ? options.apiKeys : envConfig.apiKeys,
      allowedOrigins: options.allowedOrigins?.length ? options.allowedOrigins : envConfig.allowedOrigins,
      allowedHosts: options.allowedHosts?.length ? options.allowedHosts : envConfig.allowedHosts,
      logger: options.logger,
      plugins: [useDashboard({ graphqlPath: envConfig.graphqlPath, exampleArgs: loaded.exampleArgs, logger: options.logger })],
    });
  } catch (error) {
    await worker?.stop();
    await senpuki.close();
    throw error;
  }
  return running(senpuki, worker, server, loaded.exampleArgs, graphiql);
}

/** `senpuki worker`: a worker process without the HTTP server. */
export async function runWorker(options: ServeOptions, env: NodeJS.ProcessEnv = process.env): Promise<Running> {
  const { senpuki, worker, loaded } = await startEngine(options, serverConfigFromEnv(env));
  let metrics: MetricsServer | undefined;
  if (options.metricsPort !== undefined) {
    try {
      metrics = await startMetricsServer({ senpuki, port: options.metricsPort, host: options.metricsHost });
    } catch (error) {
      await worker?.stop();
      await senpuki.close();
      throw error;
    }
  }
  return running(senpuki, worker, undefined, loaded.exampleArgs, false, metrics);
}

function running(
  senpuki: Senpuki,
  worker: Worker | undefined,
  server: SenpukiServer | undefined,
  exampleArgs: Record<string, unknown[]>,
  graphiql: boolean,
  metrics?: MetricsServer,
): Running {
  let stopping: Promise<void> | undefined;
  return {
    senpuki,
    worker,
    server,
    metrics,
    exampleArgs,
    graphiql,
    stop() {
      stopping ??= (async () => {
        await worker?.stop();
        await server?.close();
        await metrics?.close();
        await senpuki.close();
      })();
      return stopping;
    },
  };
}
