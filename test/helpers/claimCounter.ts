import type { Store } from '../../server/store/store.js';

export interface ClaimCounts {
  /** Claims sent so far. */
  count: number;
  /** Claims sent and not answered yet. */
  inFlight: number;
  /** Tasks the last answered claim found (-1 before the first). */
  lastFound: number;
  /** Puts the store's own claimTasks back (for a store shared with later tests). */
  restore(): void;
}

/** Counts `store`'s claims as they go (to know when a worker is idle: its last claim found nothing). */
export function countClaims(store: Store): ClaimCounts {
  const own = store.claimTasks;
  const claimTasks = own.bind(store);
  const claims: ClaimCounts = { count: 0, inFlight: 0, lastFound: -1, restore: () => void (store.claimTasks = own) };
  store.claimTasks = async (options) => {
    claims.count++;
    claims.inFlight++;
    try {
      const claimed = await claimTasks(options);
      claims.lastFound = claimed.length;
      return claimed;
    } finally {
      claims.inFlight--;
    }
  };
  return claims;
}
