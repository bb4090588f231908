import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
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

/** Test stores opened and not yet disposed, with where each was opened. */
const openStores = new Map<TestStore, string>();

// A test file that leaves a store (and so the engine and workers on it) open fails, like
// graphile-worker's tests fail on a pool left open: the leak would otherwise only show as a
// process that does not exit, or as another test's rows.
after(() => {
  const left = [...openStores.values()];
  openStores.clear();
  assert.deepEqual(left, [], `${left.length} test store(s) left open; dispose them (or close their engine) in an after() hook`);
});

function tracked(testStore: TestStore): TestStore {
  const openedAt = new Error().stack?.split('\n').find((line) => line.includes('.test.ts'))?.trim() ?? 'unknown test';
  openStores.set(testStore, openedAt);
  const dispose = testStore.dispose;
  testStore.dispose = async () => {
    openStores.delete(testStore);
    await dispose();
  };
  return testStore;
}

/** A Postgres store in a fresh schema, so test files never see each other's rows. */
export async function openPostgresTestStore(schema = `t_${randomBytes(6).toString('hex')}`): Promise<TestStore> {
  const store = Store.postgres(postgresUrl, { schema, maxConnections: 20 });
  await store.initDb();
  return tracked({
    store,
    schema,
    async dispose() {
      await store.close();
      await dropSchema(schema);
    },
  });
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
  return tracked({ store, dispose: () => store.close() });
}

export type StoreKind = 'pglite' | 'postgres';

/** The store kinds a suite runs against: PGlite always, Postgres when reachable (always under CI). */
export async function storeKinds(): Promise<StoreKind[]> {
  return (await postgresReachable()) ? ['pglite', 'postgres'] : ['pglite'];
}

export function openTestStore(kind: StoreKind): Promise<TestStore> {
  return kind === 'pglite' ? openPgliteTestStore() : openPostgresTestStore();
}
