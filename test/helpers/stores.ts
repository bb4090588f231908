import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Store } from '../../server/store/store.js';
import { postgresReachable, postgresUrl } from './services.js';

export { postgresReachable, postgresUrl } from './services.js';

export interface TestStore {
  store: Store;
  /** The schema of a Postgres test store (undefined for PGlite). */
  schema?: string;
  /** Closes the store and drops its schema. */
  dispose(): Promise<void>;
}

/** A Postgres store in a fresh schema, so test files never see each other's rows. */
export async function openPostgresTestStore(schema = `t_${randomBytes(6).toString('hex')}`): Promise<TestStore> {
  const store = Store.postgres(postgresUrl, { schema, maxConnections: 20 });
  await store.initDb();
  return {
    store,
    schema,
    async dispose() {
      await store.close();
      await dropSchema(schema);
    },
  };
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

export async function openPgliteTestStore(): Promise<TestStore> {
  const store = await Store.embedded({ dataDir: 'memory://' });
  await store.initDb();
  return { store, dispose: () => store.close() };
}

export type StoreKind = 'pglite' | 'postgres';

/** The store kinds a suite runs against: PGlite always, Postgres when reachable (always under CI). */
export async function storeKinds(): Promise<StoreKind[]> {
  return (await postgresReachable()) ? ['pglite', 'postgres'] : ['pglite'];
}

export function openTestStore(kind: StoreKind): Promise<TestStore> {
  return kind === 'pglite' ? openPgliteTestStore() : openPostgresTestStore();
}
