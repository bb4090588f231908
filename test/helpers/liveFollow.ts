import type { SenpukiClient } from '../../client/index.js';

/** How a live iterator ended: its last state and every version it saw. */
export interface FollowOutcome {
  state: string | undefined;
  versions: number[];
  error?: unknown;
}

/** Follows an execution's live updates to their end; never rejects (the error is in the outcome). */
export async function followToEnd(client: SenpukiClient, id: string): Promise<FollowOutcome> {
  const versions: number[] = [];
  let state: string | undefined;
  try {
    for await (const execution of client.executionUpdates(id)) {
      versions.push(execution.version);
      state = execution.state;
    }
    return { state, versions };
  } catch (error) {
    return { state, versions, error };
  }
}
