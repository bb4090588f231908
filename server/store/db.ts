import pg from 'pg';
import { SenpukiError } from '../errors.js';
import { serialQueries } from './serialQueries.js';
import { isPrepared, type PreparedStatement } from './prepared.js';

/** Anything that runs a parameterised query: the pool, or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string | PreparedStatement, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * One Postgres-dialect connection pool, whether it reaches a real server or the embedded PGlite
 * (through PGlite's node-postgres adapter), so every query is written and tested once.
 */
export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Schema holding the tables when not the default one. */
  readonly schema?: string;
  /** Runs `fn` in a transaction on one client; rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * The same database over connections that plan each prepared statement once, generically
   * (`plan_cache_mode = force_generic_plan`), for the claim: Postgres would otherwise re-plan it
   * on every run, which costs about as much as running it. Only statements whose generic plan is
   * checked to walk an index in order and stop early belong here (test/store.claimPlans.test.ts);
   * everything else keeps the pool's custom plans. Where every statement shares one session
   * (PGlite), each of these runs in a transaction that forces generic plans for itself only.
   */
  readonly genericPlans: Db;
  /**
   * A connection of its own, outside the pool, for state that lives as long as a session (advisory
   * locks). PGlite has one session for everything, so there it is the pool's. `onLost` runs once
   * when the connection dies; open another then.
   */
  openSession(onLost: (error: unknown) => void): Promise<DbSession>;
  close(): Promise<void>;
}

/** A dedicated connection (see `Db.openSession`). */
export interface DbSession extends Queryable {
  /** Idempotent. */
  close(): Promise<void>;
}

export interface PoolDbOptions {
  kind: Db['kind'];
  pool: pg.Pool;
  schema?: string;
  /** Runs after the pool has ended (closing PGlite, releasing its lock). */
  onClose?: () => Promise<void>;
  /** How a dedicated session connects (real Postgres; PGlite shares its one session). */
  sessionConfig?: pg.ClientConfig;
  /** The pool behind `genericPlans` (its connections force generic plans); without one, see `sessionGenericPlans`. */
  genericPlansPool?: pg.Pool;
  /** This pool's connections force generic plans already: it is its own `genericPlans`. */
  forcesGenericPlans?: boolean;
}

/**
 * Our connections' type parsers: int8 as a number (ours, counts and sequence numbers, stay well
 * below 2^53, except change_seq, which we read as text on purpose), the rest as pg's defaults.
 * Per connection, never `pg.types.setTypeParser`: that would change integer parsing for every
 * other `pg` user in the host application.
 */
export const SENPUKI_PG_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.INT8 && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

export function createPoolDb({ kind, pool, schema, onClose, sessionConfig, genericPlansPool, forcesGenericPlans }: PoolDbOptions): Db {
  let closing: Promise<void> | undefined;
  let genericPlans = genericPlansPool && createPoolDb({ kind, pool: genericPlansPool, schema, sessionConfig, forcesGenericPlans: true });
  // A client that errors (server restart, terminated backend, failover) must not crash the
  // process. pg-pool listens on idle clients only: a client checked out for a transaction that
  // loses its connection between two statements would emit an unhandled 'error'. The query in
  // flight (or the next one) rejects instead, and the broken client is dropped on release.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const db: Db = {
    kind,
    schema,
    get genericPlans() {
      genericPlans ??= forcesGenericPlans ? db : sessionGenericPlans(db);
      return genericPlans;
    },
    // Not pool.query, on either store. PGlite: pool.query destroys a client whose query failed,
    // but every PGlite client shares one in-process connection whose pending replies would then
    // be read by the next caller, so its client is released normally. Postgres: a pooled
    // connection's 'connect' listener closes over the pool.query that made it, and so keeps that
    // query's result (ten thousand rows, for a batched read) for the connection's whole life; a
    // query on a checked-out client leaves nothing behind. A failed query's client is still
    // destroyed, as pool.query does.
    async query(text, values) {
      const client = await pool.connect();
      let failure: Error | undefined;
      try {
        return await client.query(toQuery(text), values as unknown[]);
      } catch (error) {
        failure = error as Error;
        throw error;
      } finally {
        client.release(kind === 'pglite' ? undefined : failure);
      }
    },
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn({ query: (text, values) => client.query(toQuery(text), values as unknown[]) });
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A failed ROLLBACK means the connection is gone: release it as broken so the pool drops it.
        await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
        throw error;
      } finally {
        client.release(kind === 'pglite' ? undefined : broken);
      }
    },
    async openSession(onLost) {
      if (kind === 'pglite' || !sessionConfig) return { query: (text, values) => db.query(text, values), close: async () => {} };
      const client = new pg.Client(sessionConfig);
      let lost = false;
      const lose = (error: unknown) => {
        if (lost) return;
        lost = true;
        client.end().catch(() => {});
        onLost(error);
      };
      client.on('error', lose);
      client.on('end', () => lose(new Error('session connection ended')));
      await client.connect();
      const serial = serialQueries(client);
      let ended: Promise<void> | undefined;
      return {
        query: (text, values) => serial(toQuery(text), values as unknown[]) as never,
        close() {
          lost = true;
          ended ??= client.end().catch(() => {});
          return ended;
        },
      };
    },
    close() {
      closing ??= Promise.all([pool.end(), genericPlansPool && genericPlans?.close()]).then(() => onClose?.());
      return closing;
    },
  };
  return db;
}

const FORCE_GENERIC_PLANS = 'SET LOCAL plan_cache_mode = force_generic_plan';

/**
 * `Db.genericPlans` where every statement shares one session (PGlite): each statement runs in a
 * transaction that forces generic plans for itself only.
 */
export function sessionGenericPlans(db: Db): Db {
  const generic: Db = {
    kind: db.kind,
    schema: db.schema,
    get genericPlans() {
      return generic;
    },
    query: (text, values) =>
      db.transaction(async (tx) => {
        await tx.query(FORCE_GENERIC_PLANS);
        return tx.query(text, values);
      }) as never,
    transaction: (fn) =>
      db.transaction(async (tx) => {
        await tx.query(FORCE_GENERIC_PLANS);
        return fn(tx);
      }),
    openSession: (onLost) => db.openSession(onLost),
    close: () => db.close(),
  };
  return generic;
}

/** What node-postgres takes: a text, or a named statement (prepared once per connection). */
function toQuery(text: string | PreparedStatement): string {
  // pg takes a config object where a text goes; its type just does not say so.
  return (isPrepared(text) ? { name: text.name, text: text.text } : text) as string;
}

/**
 * Connections of `Db.genericPlans`: a worker sends one claim at a time, so two serve a process's
 * workers without one waiting behind another's claim most of the time.
 */
export const GENERIC_PLANS_CONNECTIONS = 2;

export interface PostgresDbOptions {
  /** Connections in the pool (default 10). */
  maxConnections?: number;
  /** Schema holding Senpuki's tables (default: the connection's search_path, normally `public`). */
  schema?: string;
  /** Extra node-postgres pool options (ssl, statement_timeout, ...). */
  pool?: pg.PoolConfig;
}

/** A pool on a real Postgres server. */
export function createPostgresDb(connectionString: string, options: PostgresDbOptions = {}): Db {
  if (!/^postgres(ql)?:\/\//.test(connectionString)) {
    throw new SenpukiError(
      'BAD_USER_INPUT',
      `DATABASE_URL must look like postgres://user:password@host:5432/database, got "${redactUrl(connectionString)}"`,
    );
  }
  const connection: pg.ClientConfig = {
    connectionString,
    application_name: 'senpuki',
    types: SENPUKI_PG_TYPES,
    ...(options.schema ? { options: `-c search_path=${checkSchemaName(options.schema)}` } : {}),
    ...options.pool,
  };
  const pool = new pg.Pool({ max: options.maxConnections ?? 10, ...connection, ...options.pool });
  // Connected on first use only; a process that never claims opens none of these.
  const genericPlansPool = new pg.Pool({
    ...connection,
    ...options.pool,
    max: GENERIC_PLANS_CONNECTIONS,
    options: [connection.options, '-c plan_cache_mode=force_generic_plan'].filter(Boolean).join(' '),
  });
  return createPoolDb({ kind: 'postgres', pool, schema: options.schema, sessionConfig: connection, genericPlansPool });
}

/** Hides the password of a connection URL for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

function checkSchemaName(schema: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new SenpukiError('BAD_USER_INPUT', `Schema name "${schema}" must be letters, digits and underscores (at most 63).`);
  }
  return schema;
}
