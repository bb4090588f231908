import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Live numbers the metrics read at scrape time (passed in as callbacks, so nothing here holds state). */
export interface MetricsSources {
  /** Open subscriptions by kind (their field: executionUpdated, executionsUpdated…). */
  subscriptionsByKind: () => ReadonlyMap<string, number>;
  wsConnections: () => number;
  /** Channels the notification backend has subscribed (one shared connection carries them all). */
  notificationChannels?: () => number | undefined;
}

export interface MetricsOptions {
  path: string;
  sources: MetricsSources;
  /** Add the process metrics (CPU, memory, event loop lag, GC). */
  processMetrics: boolean;
  /** Whether a scrape request may read the metrics (API key check when keys are configured). */
  authorize: (request: Request) => Promise<boolean>;
}

/** A registry of its own per server, so several servers in one process (tests) never collide. */
export function createMetricsRegistry(options: Pick<MetricsOptions, 'sources' | 'processMetrics'>): Registry {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const { sources } = options;
  new Gauge({
    name: 'senpuki_graphql_subscriptions_active',
    help: 'GraphQL subscriptions open now (graphql-ws and SSE), by kind',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [kind, count] of sources.subscriptionsByKind()) this.set({ kind }, count);
    },
  });
  new Gauge({
    name: 'senpuki_graphql_ws_connections',
    help: 'Open graphql-ws connections',
    registers: [registry],
    collect() {
      this.set(sources.wsConnections());
    },
  });
  new Gauge({
    name: 'senpuki_notification_channels',
    help: 'Channels subscribed on the shared notification connection',
    registers: [registry],
    collect() {
      const count = sources.notificationChannels?.();
      if (count !== undefined) this.set(count);
    },
  });
  new Counter({ name: 'senpuki_graphql_operations_total', help: 'GraphQL operations by type and outcome', labelNames: ['type', 'outcome'], registers: [registry] });
  new Histogram({
    name: 'senpuki_graphql_operation_duration_seconds',
    help: 'Time to execute queries and mutations',
    labelNames: ['type'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  return registry;
}

/** Counts one subscription started, for those that never pass through Yoga's plugins (see graphqlWs.ts). */
export function subscriptionStartedCounter(registry: Registry): () => void {
  const operations = registry.getSingleMetric('senpuki_graphql_operations_total') as Counter<'type' | 'outcome'>;
  return () => operations.inc({ type: 'subscription', outcome: 'started' });
}

/** Serves `registry` at `options.path` in Prometheus text format and counts operations. */
export function useMetrics(registry: Registry, options: Pick<MetricsOptions, 'path' | 'authorize'>): Plugin {
  const operations = registry.getSingleMetric('senpuki_graphql_operations_total') as Counter<'type' | 'outcome'>;
  const durations = registry.getSingleMetric('senpuki_graphql_operation_duration_seconds') as Histogram<'type'>;
  const subscriptionStarted = subscriptionStartedCounter(registry);
  return {
    async onRequest({ url, request, fetchAPI, endResponse }) {
      if (url.pathname !== options.path) return;
      if (!(await options.authorize(request))) {
        endResponse(new fetchAPI.Response('metrics need an API key: Authorization: Bearer <key>\n', { status: 401 }));
        return;
      }
      endResponse(new fetchAPI.Response(await registry.metrics(), { headers: { 'content-type': registry.contentType } }));
    },
    onExecute({ args }) {
      const type = getOperationAST(args.document, args.operationName)?.operation ?? 'unknown';
      const stop = durations.startTimer({ type });
      return {
        onExecuteDone({ result }) {
          stop();
          const failed = 'errors' in result && Array.isArray(result.errors) && result.errors.length > 0;
          operations.inc({ type, outcome: failed ? 'error' : 'ok' });
        },
      };
    },
    onSubscribe() {
      subscriptionStarted();
    },
  };
}
