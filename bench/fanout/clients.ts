/**
 * The fan-out bench's clients: graphql-ws sockets, each carrying its share of the
 * `executionUpdated` subscriptions, in a process of their own so the server's numbers are its
 * own. Ready once every subscription has its snapshot; then stamps each terminal event.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { serve, wallNow } from './ipc.js';

export const EXECUTION_UPDATED = 'subscription($id: ID!) { executionUpdated(id: $id) { id state version } }';

let clients: Client[] = [];
let stops: Array<() => void> = [];
/** Per subscription: when its terminal event arrived (0 until then). */
let terminalAt = new Float64Array(0);
let snapshots = 0;
let terminals = 0;
let failures: string[] = [];

function waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (failures.length > 0) return reject(new Error(`${failures.length} subscriptions failed, first: ${failures[0]}`));
      if (done()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(check, 2);
    };
    check();
  });
}

serve({
  /**
   * Subscribes `ids[i]` for each i, round-robin over `sockets` connections (opened by the first
   * call; later calls add subscriptions to the same sockets). Resolves once every one has its snapshot.
   */
  subscribe: async ({ url, ids, sockets }: { url: string; ids: string[]; sockets: number }) => {
    if (clients.length === 0) {
      clients = Array.from({ length: sockets }, () =>
        createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: false }),
      );
    }
    const first = terminalAt.length;
    const grown = new Float64Array(first + ids.length);
    grown.set(terminalAt);
    terminalAt = grown;
    failures = [];
    ids.forEach((id, index) => {
      const i = first + index;
      let seen = false;
      stops.push(
        clients[i % clients.length]!.subscribe<{ executionUpdated: { state: string } }>(
          { query: EXECUTION_UPDATED, variables: { id } },
          {
            next: (event) => {
              const at = wallNow();
              if (event.errors) return void failures.push(JSON.stringify(event.errors));
              if (!seen) {
                seen = true;
                snapshots++;
              }
              if (event.data?.executionUpdated.state !== 'PENDING' && terminalAt[i] === 0) {
                terminalAt[i] = at;
                terminals++;
              }
            },
            error: (error) => failures.push(String((error as Error).message ?? error)),
            complete: () => {},
          },
        ),
      );
    });
    await waitUntil(() => snapshots === terminalAt.length, 300_000, 'every snapshot');
    return snapshots;
  },
  /** Resolves with each subscription's terminal event time once all arrived. */
  terminals: async () => {
    await waitUntil(() => terminals === terminalAt.length, 120_000, 'every terminal event');
    return Array.from(terminalAt);
  },
  /** CPU this process used so far, in milliseconds (the clients' share of a burst). */
  cpu: () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  },
  exit: async () => {
    for (const stop of stops) stop();
    await Promise.all(clients.map((client) => client.dispose()));
    stops = [];
    clients = [];
  },
});
