import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';

/** Redis the tests use: `REDIS_URL` or the local default. */
export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Postgres the tests use: `DATABASE_URL` or the local default (trust auth, db `test`). */
export const postgresUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const PROBE_TIMEOUT_MS = 2000;
const probes = new Map<string, Promise<string | undefined>>();

/**
 * True when Redis answers PING. Otherwise the test is skipped (returns false) — unless `CI=true`,
 * where a missing service is a failure, so CI can never go green by skipping.
 */
export function requireRedis(t: TestContext): Promise<boolean> {
  return requireService(t, 'Redis', redisUrl, probeRedis);
}

/** Like `requireRedis`, for Postgres (`SELECT 1`). */
export function requirePostgres(t: TestContext): Promise<boolean> {
  return requireService(t, 'Postgres', postgresUrl, probePostgres);
}

/**
 * True when the service answers; false when it does not and CI is unset. Under `CI=true` an
 * unreachable service throws, so CI can never go green by skipping.
 */
async function serviceReachable(name: string, url: string, probe: (url: string) => Promise<void>): Promise<boolean> {
  let result = probes.get(url);
  if (!result) {
    result = probe(url).then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    probes.set(url, result);
  }
  const failure = await result;
  if (failure === undefined) return true;
  if (process.env.CI === 'true') throw new Error(`${name} unreachable at ${url} (${failure}); CI=true, so this fails instead of skipping`);
  return false;
}

/** For a whole suite (`describe(..., { skip })`): whether Postgres answers, with the CI rule above. */
export function postgresReachable(): Promise<boolean> {
  return serviceReachable('Postgres', postgresUrl, probePostgres);
}

async function requireService(
  t: TestContext,
  name: string,
  url: string,
  probe: (url: string) => Promise<void>,
): Promise<boolean> {
  if (await serviceReachable(name, url, probe)) return true;
  t.skip(`${name} unreachable at ${url}`);
  return false;
}

async function probeRedis(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: PROBE_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } finally {
    client.disconnect();
  }
}

async function probePostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}
