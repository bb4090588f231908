import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StoreLockedError } from '../server/errors.js';
import { Store } from '../server/store/store.js';
import { migrate } from '../server/store/migrate.js';
import { postgresUrl, dropSchema, postgresReachable } from './helpers/stores.js';

type Report = { ok: boolean; name?: string; message?: string };

function openInChild(dataDir: string) {
  const child = fork(join(import.meta.dirname, 'fixtures', 'openEmbedded.ts'), [dataDir], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const report = new Promise<Report>((resolve, reject) => {
    child.once('message', (message) => resolve(message as Report));
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before reporting`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, report, exited };
}

describe('embedded store data directory', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'senpuki-data-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a second process with an error that names the holder and the way out', async () => {
    const dataDir = join(dir, 'shared');
    const store = await Store.embedded({ dataDir });
    try {
      await store.initDb();
      const { report, exited } = openInChild(dataDir);
      const outcome = await report;
      await exited;
      assert.equal(outcome.ok, false);
      assert.equal(outcome.name, 'StoreLockedError');
      assert.match(outcome.message!, new RegExp(`in use by process ${process.pid}.*DATABASE_URL`));
      await assert.rejects(Store.embedded({ dataDir }), StoreLockedError);
    } finally {
      await store.close();
    }
  });

  it('takes over the lock of a process that was killed, and keeps the data', async () => {
    const dataDir = join(dir, 'crashed');
    const { child, report, exited } = openInChild(dataDir);
    assert.deepEqual(await report, { ok: true });
    child.kill('SIGKILL');
    await exited;
    const store = await Store.embedded({ dataDir });
    try {
      await store.initDb();
      const { rows } = await store.db.query<{ count: number }>('SELECT count(*)::int AS count FROM senpuki_migrations');
      assert.ok(rows[0]!.count >= 1);
    } finally {
      await store.close();
    }
    // Closing released the lock: the directory opens again.
    const again = await Store.embedded({ dataDir });
    await again.close();
  });
});

describe('migrations on Postgres', { skip: !(await postgresReachable()) && 'Postgres is not reachable' }, () => {
  it('apply once when several connections migrate at the same moment', async () => {
    const schema = `t_migrate_${process.pid}`;
    const stores = Array.from({ length: 4 }, () => Store.postgres(postgresUrl, { schema }));
    try {
      const files = readdirSync(join(import.meta.dirname, '..', 'server', 'store', 'migrations')).filter((name) => name.endsWith('.sql'));
      const ids = files.map((name) => Number.parseInt(name, 10)).sort((a, b) => a - b);
      const applied = await Promise.all(stores.map((store) => migrate(store.db)));
      assert.deepEqual(applied.flat(), ids, 'exactly one starter applied each migration, in order');
      const { rows } = await stores[0]!.db.query<{ id: number }>('SELECT id FROM senpuki_migrations ORDER BY id');
      assert.deepEqual(rows.map((row) => row.id), ids);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
      await dropSchema(schema);
    }
  });
});
