import { Senpuki, type SenpukiOptions } from '../../server/engine/senpuki.js';
import { openTestStore, type StoreKind } from './stores.js';

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
