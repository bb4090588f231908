import { after, before, describe } from 'node:test';
import { Senpuki, type SenpukiOptions } from '../../server/engine/senpuki.js';
import { openTestStore, storeKinds, type StoreKind } from './stores.js';

export interface TestEngine {
  senpuki: Senpuki;
  close(): Promise<void>;
}

/** A Senpuki on a fresh test store of the given kind; `close` stops its workers and drops the store. */
export async function openEngine(kind: StoreKind, options: Omit<SenpukiOptions, 'store'> = {}): Promise<TestEngine> {
  const { store, dispose } = await openTestStore(kind);
  const senpuki = new Senpuki({ store, pollMinIntervalMs: 20, ...options });
  return {
    senpuki,
    async close() {
      await senpuki.close();
      await dispose();
    },
  };
}

/**
 * Declares the suite `${title} (${kind})` once per store kind the run has, with one engine opened
 * before its tests and closed after them. `engine` is for tests and hooks, not for declaring.
 */
export async function describeOnEachStore(
  title: string,
  body: (engine: TestEngine, kind: StoreKind) => void,
  options: Omit<SenpukiOptions, 'store'> = {},
): Promise<void> {
  for (const kind of await storeKinds()) {
    describe(`${title} (${kind})`, () => {
      let opened: TestEngine | undefined;
      const current = (): TestEngine => {
        if (!opened) throw new Error('The engine is opened in a before() hook: use it inside tests and hooks');
        return opened;
      };
      const engine: TestEngine = {
        get senpuki() {
          return current().senpuki;
        },
        close: () => current().close(),
      };
      before(async () => {
        opened = await openEngine(kind, options);
      });
      after(() => opened?.close());
      body(engine, kind);
    });
  }
}
