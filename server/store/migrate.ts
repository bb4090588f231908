import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
// Any constant shared by every Senpuki process; two processes starting at once take turns.
const MIGRATION_LOCK_KEY = 0x5e4b0b1;

interface Migration {
  id: number;
  name: string;
  sql: string;
}

async function loadMigrations(): Promise<Migration[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((file) => /^\d+_.+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (name) => ({
      id: Number.parseInt(name, 10),
      name,
      sql: await readFile(MIGRATIONS_DIR + name, 'utf8'),
    })),
  );
}

/** Applies the numbered .sql files not yet recorded in `senpuki_migrations`, in order, in one transaction. */
export async function migrate(db: Db): Promise<number[]> {
  const migrations = await loadMigrations();
  return db.transaction(async (tx) => {
    // Transaction-scoped: released on commit or rollback, even if this process dies.
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    if (db.schema) await tx.query(`CREATE SCHEMA IF NOT EXISTS ${db.schema}`); // Name checked when the pool was made.
    await tx.query(
      `CREATE TABLE IF NOT EXISTS senpuki_migrations (
         id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await tx.query<{ id: number }>('SELECT id FROM senpuki_migrations');
    const applied = new Set(rows.map((row) => row.id));
    const ran: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.id)) continue;
      await tx.query(migration.sql);
      await tx.query('INSERT INTO senpuki_migrations (id, name) VALUES ($1, $2)', [migration.id, migration.name]);
      ran.push(migration.id);
    }
    return ran;
  });
}
