import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { openTestStore, storeKinds } from './helpers/stores.js';

for (const kind of await storeKinds()) {
  describe(`type parsing (${kind})`, () => {
    it("reads int8 as numbers on its own connections and leaves the host application's pg parsing alone", async () => {
      const { store, dispose } = await openTestStore(kind);
      try {
        const { rows } = await store.db.query<{ n: unknown; seq: unknown }>(`SELECT 9007199254740991::int8 AS n, 12::int8::text AS seq`);
        assert.equal(rows[0]!.n, 9007199254740991, 'int8 as a number on Senpuki connections');
        assert.equal(rows[0]!.seq, '12');
        assert.equal(typeof (await store.countExecutions({})), 'number');
        // pg's global parsers stay as pg ships them: an application's own int8 columns stay strings.
        assert.equal(pg.types.getTypeParser(pg.types.builtins.INT8, 'text')('9007199254740993'), '9007199254740993');
      } finally {
        await dispose();
      }
    });
  });
}
