import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import pg from 'pg';
import { acquireDataDirLock } from './dataDirLock.js';
import { SENPUKI_PG_TYPES, createPoolDb, type Db } from './db.js';

export const DEFAULT_DATA_DIR = '.senpuki/data';

export interface EmbeddedDbOptions {
  /** Directory of the database files (default `.senpuki/data`); `'memory://'` keeps it in memory. */
  dataDir?: string;
}

/** The embedded store: PGlite behind node-postgres' Pool, so it runs the very same SQL. */
export async function createEmbeddedDb(options: EmbeddedDbOptions = {}): Promise<Db & { pglite: PGlite }> {
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const inMemory = dataDir.startsWith('memory://');
  const release = inMemory ? async () => {} : await acquireDataDirLock(`${resolve(dataDir)}.lock`);
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(inMemory ? undefined : resolve(dataDir));
  } catch (error) {
    await release();
    throw error;
  }
  const pool = new pg.Pool({ ...(createPgConfig(pglite) as unknown as pg.PoolConfig), types: SENPUKI_PG_TYPES });
  const db = createPoolDb({
    kind: 'pglite',
    pool,
    onClose: async () => {
      await pglite.close();
      await release();
    },
  });
  return Object.assign(db, { pglite });
}
