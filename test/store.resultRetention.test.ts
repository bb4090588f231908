import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createPostgresDb } from '../server/store/db.js';
import { postgresReachable, postgresUrl } from './helpers/stores.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

describe('query results (postgres)', { skip: !(await postgresReachable()) && 'Postgres is not reachable' }, () => {
  it("are not kept by the pool once read: a new connection's first query leaves nothing behind", async () => {
    const db = createPostgresDb(postgresUrl, { pool: { max: 1 } });
    try {
      // The pool's first query opens its connection; pg's 'connect' listener on that connection
      // closes over whatever asked for it (with pool.query, that query's result).
      let rows: unknown[] | undefined = (await db.query('SELECT g AS n, repeat($1, 100) AS filler FROM generate_series(1, 1000) AS g', ['x'])).rows;
      const result = new WeakRef(rows);
      assert.equal(rows.length, 1000);
      rows = undefined;
      await db.query('SELECT 1'); // the connection stays open and in use
      await new Promise((resolve) => setImmediate(resolve));
      collectGarbage();
      assert.equal(result.deref(), undefined, 'the first query result is still reachable from the pool');
    } finally {
      await db.close();
    }
  });
});
