import type { Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { EngineConfig } from '../engine/createEngine.js';
import type { Senpuki } from '../engine/senpuki.js';
import { ValidationError } from '../errors.js';
import type { EngineMetricsOptions } from './engineMetrics.js';
import { isLoopbackName } from './originPolicy.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 4000;
export const DEFAULT_GRAPHQL_PATH = '/graphql';
export const DEFAULT_HEALTH_PATH = '/healthz';
export const DEFAULT_METRICS_PATH = '/metrics';
/** Lifetime of the read token `dispatch` returns. */
export const DEFAULT_TOKEN_TTL_MS = 15 * 60_000;
export const DEFAULT_MAX_DEPTH = 12;
export const DEFAULT_MAX_ALIASES = 20;
export const DEFAULT_MAX_COST = 50_000;
/** Tokens in one GraphQL document; the parser stops at the first one past it (the SDK's largest has under 100). */
export const DEFAULT_MAX_TOKENS = 2000;
/** Larger than the default args limit, so oversized args get the more specific message. */
export const DEFAULT_MAX_REQUEST_BYTES = 2 * 1024 * 1024;
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION = 100;
/** graphql-ws ping interval; a client that misses a pong for this long is dropped. */
export const DEFAULT_WS_KEEP_ALIVE_MS = 12_000;
/** How long `close()` waits for sockets to finish before it cuts them. */
export const DEFAULT_CLOSE_GRACE_MS = 2000;

/** Protections against expensive or oversized requests. */
export interface ServerLimits {
  /** Deepest field nesting of an operation (introspection excluded). */
  maxDepth?: number;
  maxAliases?: number;
  /** graphql-armor cost: objects 2, scalars 1, times 1.5 per level of depth, times a literal `first`. */
  maxCost?: number;
  /** Tokens of a GraphQL document (names, punctuation, values): bounds what parsing may cost. */
  maxTokens?: number;
  /** Largest HTTP request body and graphql-ws message. */
  maxRequestBytes?: number;
  /** Largest JSON size of `dispatch` arguments (default: the engine's 1 MiB). */
  maxArgsBytes?: number;
  /** Open subscriptions of one graphql-ws connection, and of one client (credential and address) over SSE. */
  maxSubscriptionsPerConnection?: number;
}

export interface ServerConfig {
  /** The engine to serve. The caller keeps ownership: `close()` leaves it open. */
  senpuki?: Senpuki;
  /** Used when `senpuki` is not given: the server builds an engine and closes it on `close()`. */
  engine?: EngineConfig;
  /** Default 127.0.0.1. Listening elsewhere without API keys logs a warning. */
  host?: string;
  /** Default 4000; 0 picks a free port (see the returned `url`). */
  port?: number;
  /** GraphQL over HTTP, SSE and graphql-ws all live here. Default /graphql. */
  graphqlPath?: string;
  /** Accepted `Authorization: Bearer` keys; none means open access (fine on loopback only). */
  apiKeys?: string[];
  /**
   * Origins whose pages may call the API from the browser (`https://app.example.com`; `*` for
   * any). The server's own pages (the dashboard) always may; other origins are refused (403).
   */
  allowedOrigins?: string[];
  /** Without API keys, Host names answered besides loopback ones (localhost, 127.0.0.1, [::1]). */
  allowedHosts?: string[];
  /** HS256 secret of read tokens, at least 32 bytes; default random per process. Share one across servers. */
  tokenSecret?: string;
  tokenTtlMs?: number;
  /** Serve GraphiQL at the GraphQL path (default: unless NODE_ENV is production). */
  graphiql?: boolean;
  limits?: ServerLimits;
  wsKeepAliveMs?: number;
  closeGraceMs?: number;
  /** Process metrics (CPU, memory, event loop) on /metrics besides the server's own. Default true. */
  processMetrics?: boolean;
  /** How the engine metrics sample queue depths (interval, count cap). */
  engineMetrics?: EngineMetricsOptions;
  logger?: Logger;
  /** More Yoga plugins (extra routes such as a dashboard), run after the built-in ones. */
  plugins?: Plugin[];
}

/**
 * A server config from environment variables: DATABASE_URL, REDIS_URL, SENPUKI_DATA_DIR, PORT,
 * HOST, SENPUKI_API_KEYS, SENPUKI_ALLOWED_ORIGINS, SENPUKI_ALLOWED_HOSTS (comma-separated),
 * SENPUKI_TOKEN_SECRET, SENPUKI_TOKEN_TTL_MS, SENPUKI_GRAPHIQL (true or false; default: GraphiQL
 * unless NODE_ENV is production).
 */
export function serverConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const config: ServerConfig = {
    engine: {
      databaseUrl: env.DATABASE_URL || undefined,
      redisUrl: env.REDIS_URL || undefined,
      dataDir: env.SENPUKI_DATA_DIR || undefined,
    },
  };
  if (env.PORT) config.port = parseInteger(env.PORT, 'PORT', 0, 65_535);
  if (env.HOST) config.host = env.HOST;
  if (env.SENPUKI_API_KEYS) config.apiKeys = commaList(env.SENPUKI_API_KEYS);
  if (env.SENPUKI_ALLOWED_ORIGINS) config.allowedOrigins = commaList(env.SENPUKI_ALLOWED_ORIGINS);
  if (env.SENPUKI_ALLOWED_HOSTS) config.allowedHosts = commaList(env.SENPUKI_ALLOWED_HOSTS);
  if (env.SENPUKI_TOKEN_SECRET) config.tokenSecret = env.SENPUKI_TOKEN_SECRET;
  if (env.SENPUKI_GRAPHIQL) config.graphiql = parseBoolean(env.SENPUKI_GRAPHIQL, 'SENPUKI_GRAPHIQL');
  if (env.SENPUKI_TOKEN_TTL_MS) config.tokenTtlMs = parseInteger(env.SENPUKI_TOKEN_TTL_MS, 'SENPUKI_TOKEN_TTL_MS', 1000, 7 * 24 * 3_600_000);
  return config;
}

function commaList(text: string): string[] {
  return text.split(',').map((item) => item.trim()).filter(Boolean);
}

function parseInteger(text: string, name: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(`${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(text)}`);
  }
  return value;
}

function parseBoolean(text: string, name: string): boolean {
  if (/^(true|1|yes)$/i.test(text)) return true;
  if (/^(false|0|no)$/i.test(text)) return false;
  throw new ValidationError(`${name} must be true or false; got ${JSON.stringify(text)}`);
}

/** Whether a server with this config serves GraphiQL: as configured, else everywhere but in production. */
export function graphiqlEnabled(config: Pick<ServerConfig, 'graphiql'>, env: NodeJS.ProcessEnv = process.env): boolean {
  return config.graphiql ?? env.NODE_ENV !== 'production';
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return isLoopbackName(host.toLowerCase());
}
