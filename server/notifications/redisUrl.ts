import type { ConnectionOptions } from 'node:tls';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { ValidationError } from '../errors.js';

/** Port used when a Redis host has none. */
export const DEFAULT_REDIS_PORT = 6379;
/** Port used when a Sentinel host has none. */
export const DEFAULT_SENTINEL_PORT = 26379;

/** A host and port of one Redis or Sentinel node. */
export interface RedisHost {
  host: string;
  port: number;
}

/**
 * What a Redis URL asks for, as ioredis options:
 * - `single`: `new Redis(options)`;
 * - `cluster`: `new Cluster(nodes, options)` (several comma-separated hosts, db 0 only);
 * - `sentinel`: `new Redis(options)` with `sentinels` and the master `name` (a non-numeric path).
 */
export type RedisConnectionDescription =
  | { mode: 'single'; options: RedisOptions }
  | { mode: 'cluster'; nodes: RedisHost[]; options: ClusterOptions }
  | { mode: 'sentinel'; options: RedisOptions };

export interface ParseRedisUrlOptions {
  /**
   * TLS options for the sockets. Given, they turn TLS on whatever the scheme (as in ioredis);
   * with `rediss://` and no options, TLS uses Node's defaults.
   */
  tls?: ConnectionOptions;
}

const EXPECTED_FORMS =
  'Expected redis[s]://[[username:]password@]host[:port][/db], ' +
  'comma-separated hosts for a cluster (redis://node1:6379,node2:6379), ' +
  'or redis://sentinel-host:26379/mastername[/db] for Sentinel';

/**
 * Turns a notification URL into ioredis options. Pure: opens nothing, so every form can be tested.
 * Credentials in the URL are percent-decoded; for Sentinel they are the master's (Sentinel's own
 * password goes in `sentinelPassword` through the backend's `redisOptions`).
 * @throws ValidationError naming the accepted forms when the URL is not one of them.
 */
export function parseRedisUrl(url: string, opts: ParseRedisUrlOptions = {}): RedisConnectionDescription {
  const invalid = (why: string) => new ValidationError(`Invalid Redis URL ${redact(url)}: ${why}. ${EXPECTED_FORMS}`);
  if (typeof url !== 'string') throw invalid('not a string');
  const match = /^(rediss?):\/\/([^/?#]*)(\/[^?#]*)?([?#].*)?$/i.exec(url.trim());
  if (!match) throw invalid('the scheme must be redis:// or rediss://');
  const [, scheme, authority, path = '', rest] = match;
  if (rest) throw invalid('query strings and fragments are not supported (pass options to RedisBackend instead)');

  // Split at the last '@': a password may contain '@' only percent-encoded, but be lenient.
  const at = authority!.lastIndexOf('@');
  const userInfo = at === -1 ? undefined : authority!.slice(0, at);
  const hostList = at === -1 ? authority! : authority!.slice(at + 1);

  const auth: { username?: string; password?: string } = {};
  if (userInfo !== undefined) {
    const colon = userInfo.indexOf(':');
    const username = decode(colon === -1 ? userInfo : userInfo.slice(0, colon), 'username', invalid);
    const password = colon === -1 ? '' : decode(userInfo.slice(colon + 1), 'password', invalid);
    if (password === '') throw invalid('credentials need a password (redis://:password@host or redis://user:password@host)');
    if (username !== '') auth.username = username;
    auth.password = password;
  }

  const segments = path.split('/').filter((s) => s !== '');
  let masterName: string | undefined;
  let db: number | undefined;
  if (segments.length > 2) throw invalid('the path may only be /db, /mastername or /mastername/db');
  if (segments.length >= 1) {
    if (/^\d+$/.test(segments[0]!)) {
      if (segments.length === 2) throw invalid('the path may only be /db, /mastername or /mastername/db');
      db = Number(segments[0]);
    } else {
      masterName = decode(segments[0]!, 'master name', invalid);
      if (segments.length === 2) {
        if (!/^\d+$/.test(segments[1]!)) throw invalid(`the database "${segments[1]}" is not a number`);
        db = Number(segments[1]);
      }
    }
  }
  if (db !== undefined && !Number.isSafeInteger(db)) throw invalid('the database number is too large');

  const defaultPort = masterName === undefined ? DEFAULT_REDIS_PORT : DEFAULT_SENTINEL_PORT;
  const hosts = hostList.split(',').map((h) => parseHost(h.trim(), defaultPort, invalid));

  const secure = scheme!.toLowerCase() === 'rediss' || opts.tls !== undefined;
  const tls: ConnectionOptions | undefined = secure ? { ...opts.tls } : undefined;
  const dbOption = db !== undefined && db !== 0 ? { db } : {};

  if (masterName !== undefined) {
    const options: RedisOptions = { sentinels: hosts, name: masterName, ...auth, ...dbOption };
    // One scheme for the whole deployment: rediss:// means TLS to the sentinels and to the master.
    if (tls) Object.assign(options, { tls, sentinelTLS: tls, enableTLSForSentinelMode: true });
    return { mode: 'sentinel', options };
  }
  if (hosts.length > 1) {
    if (db !== undefined && db !== 0) throw invalid('Redis Cluster has only database 0');
    const redisOptions: RedisOptions = { ...auth };
    if (tls) redisOptions.tls = tls;
    return { mode: 'cluster', nodes: hosts, options: { redisOptions } };
  }
  const options: RedisOptions = { host: hosts[0]!.host, port: hosts[0]!.port, ...auth, ...dbOption };
  if (tls) options.tls = tls;
  return { mode: 'single', options };
}

function parseHost(text: string, defaultPort: number, invalid: (why: string) => Error): RedisHost {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(text);
  if (!match) throw invalid(text === '' ? 'a host is missing' : `"${text}" is not a host[:port]`);
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  if (port < 1 || port > 65535) throw invalid(`port ${port} is out of range`);
  return { host: match[1] ?? match[2]!, port };
}

function decode(text: string, what: string, invalid: (why: string) => Error): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid(`the ${what} has a bad percent-encoding`);
  }
}

/** The URL without its password, for error messages (they end up in logs). */
function redact(url: unknown): string {
  if (typeof url !== 'string') return String(url);
  return JSON.stringify(url.replace(/\/\/([^/@:]*):[^/]*@/, '//$1:***@'));
}
