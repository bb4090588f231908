import { setMaxListeners } from 'node:events';
import type { Server } from 'node:http';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import { LRUCache } from 'lru-cache';
import type { Registry } from 'prom-client';
import { DEFAULT_MAX_ARGS_BYTES, type Senpuki } from '../engine/senpuki.js';
import { ExecutionTasksFeed } from '../realtime/executionTasksFeed.js';
import { ExecutionsFeed } from '../realtime/executionsFeed.js';
import { SenpukiError } from '../errors.js';
import type { LiveContext } from '../schema/builder.js';
import { createErrorMasker, schema } from '../schema/index.js';
import { Authenticator } from './authenticator.js';
import {
  DEFAULT_GRAPHQL_PATH,
  DEFAULT_HEALTH_PATH,
  DEFAULT_MAX_ALIASES,
  DEFAULT_MAX_COST,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
  DEFAULT_MAX_TOKENS,
  DEFAULT_METRICS_PATH,
  DEFAULT_TOKEN_TTL_MS,
  DEFAULT_WS_KEEP_ALIVE_MS,
  graphiqlEnabled,
  type ServerConfig,
  type ServerLimits,
} from './config.js';
import { attachGraphQLWs, type GraphQLWsHandle } from './graphqlWs.js';
import { renderOfflineGraphiQL } from './offlineGraphiQL.js';
import { ReadTokens } from './readTokens.js';
import { OriginPolicy } from './originPolicy.js';
import { useAuth } from './useAuth.js';
import { useOriginPolicy } from './useOriginPolicy.js';
import { useRequestParseErrors } from './useRequestParseErrors.js';
import { useSubscriptionErrorStatus } from './useSubscriptionErrorStatus.js';
import { useTracing } from './useTracing.js';
import { useMultiplexedSubscriptions } from './useMultiplexedSubscriptions.js';
import { useHealthCheck } from './useHealthCheck.js';
import { registerEngineMetrics } from './engineMetrics.js';
import { createMetricsRegistry, subscriptionStartedCounter, useMetrics } from './useMetrics.js';
import { useQueryLimits } from './useQueryLimits.js';
import { useRequestSizeLimit } from './useRequestSizeLimit.js';
import { settleWithin } from '../support/timers.js';

/** Open subscriptions, and the switch that ends them all at shutdown. */
class LiveTracker implements LiveContext {
  private readonly controller = new AbortController();
  private readonly byClient = new Map<string, number>();
  /** Open subscriptions by kind (their field), for metrics. */
  readonly byKind = new Map<string, number>();
  count = 0;

  constructor(private readonly maxPerClient: number) {
    // Every open subscription listens for shutdown: thousands are expected, not a leak.
    setMaxListeners(0, this.controller.signal);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private idle: Array<() => void> = [];

  opened(kind: string, client?: string): () => void {
    if (client !== undefined) {
      const open = this.byClient.get(client) ?? 0;
      if (open >= this.maxPerClient) {
        throw new SenpukiError(
          'LIMIT_EXCEEDED',
          `This client already has ${open} subscriptions open over SSE, the limit (limits.maxSubscriptionsPerConnection); end some, or use one graphql-ws connection per ${this.maxPerClient}`,
        );
      }
      this.byClient.set(client, open + 1);
    }
    this.counted(kind, 1);
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      if (client !== undefined) {
        const left = this.byClient.get(client)! - 1;
        if (left === 0) this.byClient.delete(client);
        else this.byClient.set(client, left);
      }
      this.counted(kind, -1);
    };
  }

  counted(kind: string, change: 1 | -1): void {
    this.count += change;
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + change);
    if (this.count === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  /** Aborts every subscription; resolves once all have ended (or after `timeoutMs`). */
  async shutdown(timeoutMs = 0): Promise<void> {
    this.controller.abort(new Error('server shutting down'));
    if (this.count > 0 && timeoutMs > 0) {
      await settleWithin(new Promise<void>((resolve) => this.idle.push(resolve)), timeoutMs);
    }
    // One macrotask turn, so the transports send their `complete` before sockets close.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Query texts cached at most (by total length), and the longest one cached. */
const PARSE_CACHE_MAX_CHARS = 1024 * 1024;
const PARSE_CACHE_MAX_ENTRY_CHARS = 16 * 1024;

function boundedTextCache<T extends {}>(): LRUCache<string, T> {
  return new LRUCache<string, T>({
    max: 1024,
    maxSize: PARSE_CACHE_MAX_CHARS,
    maxEntrySize: PARSE_CACHE_MAX_ENTRY_CHARS,
    sizeCalculation: (_value, key) => Math.max(1, key.length),
  });
}

/** The GraphQL application without a socket: `yoga.fetch` serves it in tests; `attach` adds graphql-ws. */
export interface GraphQLApp {
  readonly yoga: YogaServerInstance<Record<string, any>, Record<string, any>>;
  readonly metrics: Registry;
  readonly authenticator: Authenticator;
  /** Subscriptions open now, over every transport. */
  readonly activeSubscriptions: number;
  /** Open graphql-ws connections (0 before `attach`). */
  readonly wsConnections: number;
  /** Serves graphql-ws on `server` at the GraphQL path. */
  attach(server: Server): GraphQLWsHandle;
  /** Completes every open subscription (first step of shutting down); waits up to `graceMs` for them to end. */
  endSubscriptions(graceMs?: number): Promise<void>;
  dispose(): Promise<void>;
}

export type GraphQLAppConfig = Omit<ServerConfig, 'senpuki' | 'engine' | 'port'> & { senpuki: Senpuki; logger: Logger };

/** Builds Yoga with the schema, auth, limits, health and metrics, for one engine. */
export function createGraphQLApp(config: GraphQLAppConfig): GraphQLApp {
  const { senpuki, logger } = config;
  const limits: Required<ServerLimits> = {
    maxDepth: config.limits?.maxDepth ?? DEFAULT_MAX_DEPTH,
    maxAliases: config.limits?.maxAliases ?? DEFAULT_MAX_ALIASES,
    maxCost: config.limits?.maxCost ?? DEFAULT_MAX_COST,
    maxTokens: config.limits?.maxTokens ?? DEFAULT_MAX_TOKENS,
    maxRequestBytes: config.limits?.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    maxArgsBytes: config.limits?.maxArgsBytes ?? DEFAULT_MAX_ARGS_BYTES,
    maxSubscriptionsPerConnection: config.limits?.maxSubscriptionsPerConnection ?? DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
  };
  const graphqlPath = config.graphqlPath ?? DEFAULT_GRAPHQL_PATH;
  const tokens = new ReadTokens({ secret: config.tokenSecret, ttlMs: config.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS });
  const authenticator = new Authenticator(config.apiKeys ?? [], tokens);
  const originPolicy = new OriginPolicy({
    allowedOrigins: config.allowedOrigins,
    allowedHosts: config.allowedHosts,
    keysConfigured: authenticator.keysConfigured,
    listenHost: config.host,
  });
  const live = new LiveTracker(limits.maxSubscriptionsPerConnection);
  const feedConfig = {
    store: senpuki.store,
    notifications: senpuki.notifications,
    pushReachesAllWriters: senpuki.pushReachesAllWriters,
    readExecution: (id: string) => senpuki.findExecution(id),
    ...senpuki.pollOptions,
  };
  const executionsFeed = new ExecutionsFeed(feedConfig);
  const executionTasksFeed = new ExecutionTasksFeed({ ...feedConfig, readTask: (id) => senpuki.findTask(id) });
  let ws: GraphQLWsHandle | undefined;
  const metrics = createMetricsRegistry({
    processMetrics: config.processMetrics ?? true,
    sources: {
      subscriptionsByKind: () => live.byKind,
      wsConnections: () => ws?.connectionCount ?? 0,
      notificationChannels: () => senpuki.notifications.subscribedChannelCount,
    },
  });
  const stopEngineMetrics = registerEngineMetrics(metrics, senpuki, config.engineMetrics);
  const maskError = createErrorMasker((error) => logger.error({ err: error }, 'unexpected error in a GraphQL operation'));
  const authorizeScrape = async (request: Request) => {
    if (!authenticator.keysConfigured) return true;
    const principal = await authenticator.authenticate(request.headers.get('authorization') ?? undefined).catch(() => undefined);
    return principal?.kind === 'apiKey';
  };
  // In this order: refuse foreign pages, oversized bodies and missing credentials before reading
  // or parsing anything, so a request that will be refused costs next to nothing.
  const plugins: Plugin[] = [
    useOriginPolicy(originPolicy, { graphqlPath, exemptPaths: [DEFAULT_HEALTH_PATH] }),
    useHealthCheck(DEFAULT_HEALTH_PATH, () => senpuki.health()),
    useRequestSizeLimit(limits.maxRequestBytes),
    useAuth(authenticator, graphqlPath) as Plugin,
    useMetrics(metrics, { path: DEFAULT_METRICS_PATH, authorize: authorizeScrape }),
    useRequestParseErrors(),
    ...useQueryLimits(limits),
    // Before tracing, which wraps whatever subscribe function it finds.
    useMultiplexedSubscriptions(),
    useTracing(),
    useSubscriptionErrorStatus(),
    ...(config.plugins ?? []),
  ];
  /** What every resolver's context holds besides the caller (useAuth adds the principal). */
  const resolverContext = { senpuki, executionsFeed, executionTasksFeed, tokens, live, maxArgsBytes: limits.maxArgsBytes };
  const yoga = createYoga<Record<string, any>, Record<string, any>>({
    schema,
    graphqlEndpoint: graphqlPath,
    landingPage: false,
    multipart: false,
    // Cross-origin reads for allowedOrigins only, and never with credentials (none are needed:
    // keys and read tokens travel in the Authorization header).
    cors: (request) => {
      const origin = request.headers.get('origin');
      if (!origin || !originPolicy.isAllowedCrossOrigin(origin)) return false;
      return { origin, credentials: false, methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type', 'accept'], maxAge: 600 };
    },
    // Yoga keys its parse caches by the whole query text: bounded here by total size, and no
    // entry for an outsized text, so distinct large queries cannot pile up in memory.
    parserAndValidationCache: { documentCache: boundedTextCache(), errorCache: boundedTextCache() },
    graphiql: graphiqlEnabled(config) ? { title: 'Senpuki GraphiQL', subscriptionsProtocol: 'WS' } : false,
    renderGraphiQL: renderOfflineGraphiQL,
    maskedErrors: { maskError },
    logging: {
      debug: (...args: unknown[]) => logger.debug(args.map(String).join(' ')),
      info: (...args: unknown[]) => logger.info(args.map(String).join(' ')),
      warn: (...args: unknown[]) => logger.warn(args.map(String).join(' ')),
      error: (...args: unknown[]) => logger.error(args.map(String).join(' ')),
    },
    context: (initial: { socket?: unknown; req?: { socket?: { remoteAddress?: string } } }) => ({
      ...resolverContext,
      // Over HTTP each subscription is a request of its own (SSE): counted per client instead.
      sseClientAddress: initial.socket ? undefined : (initial.req?.socket?.remoteAddress ?? 'local'),
    }),
    plugins,
  });

  return {
    yoga,
    metrics,
    authenticator,
    get activeSubscriptions() {
      return live.count;
    },
    get wsConnections() {
      return ws?.connectionCount ?? 0;
    },
    attach(server) {
      ws = attachGraphQLWs({
        server,
        path: graphqlPath,
        yoga,
        authenticator,
        maxSubscriptionsPerConnection: limits.maxSubscriptionsPerConnection,
        originPolicy,
        maxPayloadBytes: limits.maxRequestBytes,
        keepAliveMs: config.wsKeepAliveMs ?? DEFAULT_WS_KEEP_ALIVE_MS,
        logger,
        maskError,
        live,
        // An application's own plugins expect to see every operation: with them, every subscription takes Yoga's path.
        rowPath: config.plugins?.length ? undefined : { senpuki, contextFor: (principal) => ({ ...resolverContext, principal }) },
        subscriptionStarted: subscriptionStartedCounter(metrics),
      });
      return ws;
    },
    endSubscriptions(graceMs) {
      return live.shutdown(graceMs);
    },
    async dispose() {
      stopEngineMetrics();
      await live.shutdown();
      await yoga.dispose();
    },
  };
}
