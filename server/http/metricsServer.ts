/**
 * A worker process's own /metrics and /healthz (`senpuki worker --metrics-port`): a worker has
 * no GraphQL server, but an operator scrapes and probes it like one.
 */
import { createServer } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Senpuki } from '../engine/senpuki.js';
import { DEFAULT_HEALTH_PATH, DEFAULT_METRICS_PATH } from './config.js';
import { registerEngineMetrics, type EngineMetricsOptions } from './engineMetrics.js';
import { listen } from './listen.js';

export interface MetricsServerOptions {
  senpuki: Senpuki;
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  processMetrics?: boolean;
  engineMetrics?: EngineMetricsOptions;
}

export interface MetricsServer {
  readonly url: string;
  /** Idempotent. */
  close(): Promise<void>;
}

/** Serves the engine's metrics and health on a port of their own. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const stopMetrics = registerEngineMetrics(registry, options.senpuki, options.engineMetrics);
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const answer = async (): Promise<[number, string, string]> => {
      if (request.method !== 'GET') return [405, 'text/plain; charset=utf-8', 'GET only\n'];
      if (path === DEFAULT_METRICS_PATH) return [200, registry.contentType, await registry.metrics()];
      if (path === DEFAULT_HEALTH_PATH) {
        const health = await options.senpuki.health();
        return [health.status === 'down' ? 503 : 200, 'application/json; charset=utf-8', JSON.stringify(health)];
      }
      return [404, 'text/plain; charset=utf-8', `Not found: this port serves ${DEFAULT_METRICS_PATH} and ${DEFAULT_HEALTH_PATH}\n`];
    };
    answer().then(
      ([status, type, body]) => response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body),
      () => response.writeHead(500).end(),
    );
  });
  const host = options.host ?? '127.0.0.1';
  let url: string;
  try {
    url = await listen(server, options.port, host);
  } catch (error) {
    stopMetrics();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        stopMetrics();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
