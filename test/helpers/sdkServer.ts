import WebSocket from 'ws';
import { createSenpukiClient } from '../../client/index.js';
import type { SenpukiClient, SenpukiClientOptions } from '../../client/index.js';
import { NonRetryableError } from '../../server/errors.js';
import type { Worker } from '../../server/engine/worker.js';
import { startServer, type SenpukiServer } from '../../server/http/startServer.js';
import type { ServerConfig } from '../../server/http/config.js';
import { openEngine, type TestEngine } from './engine.js';
import { Gates } from './gates.js';
import { quietLogger } from './graphqlApp.js';

/** Durable functions the SDK tests dispatch by name. */
function registerFunctions(engine: TestEngine, gates: Gates): void {
  const { senpuki } = engine;
  senpuki.durable('echo', async (_ctx, value: unknown) => value);
  const gated = senpuki.durable('gated', async (_ctx, key: string) => gates.wait(key));
  // One gated child per key: children finish one by one while the execution's row stays put.
  senpuki.durable('fanOut', async (ctx, keys: string[]) => ctx.map(gated, keys));
  senpuki.durable('fails', async (_ctx, message: string) => {
    throw new NonRetryableError(message);
  });
  senpuki.durable('hangs', async (ctx) => {
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    ctx.signal.throwIfAborted();
  });
  senpuki.durable('awaitsSignal', async (ctx, name: string) => ctx.waitForSignal(name));
  // Fails for good the first time it runs for a key, succeeds on a replay.
  const failedOnce = new Set<string>();
  senpuki.durable('failsOnce', async (_ctx, key: string) => {
    if (failedOnce.has(key)) return `recovered ${key}`;
    failedOnce.add(key);
    throw new NonRetryableError(`first run of ${key}`);
  });
  const step = senpuki.durable('step', async (ctx, index: number, delayMs: number) => {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    return index;
  });
  // Streams `count` words, one every `delayMs`: chunks keep coming for a while.
  senpuki.durable('streamWords', async (ctx, count: number, delayMs: number) => {
    const out = ctx.stream<string>('words');
    for (let index = 1; index <= count; index++) {
      await out.write(`word-${index}`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    return count;
  });
  // Reports progress after every step, so the execution's version moves all along.
  senpuki.durable('steps', async (ctx, count: number, delayMs: number) => {
    let sum = 0;
    for (let index = 0; index < count; index++) {
      sum += await ctx.call(step, index, delayMs);
      ctx.progress(index + 1, count);
    }
    return sum;
  });
}

/** A real server (graphql-ws + SSE on a port) over an embedded PGlite engine with a worker. */
export interface SdkServer {
  engine: TestEngine;
  gates: Gates;
  /** The server now (replaced by `restart`). */
  server: SenpukiServer;
  graphqlUrl: string;
  /** A client of this server; closed by `close()`. */
  client(options?: Partial<SenpukiClientOptions>): SenpukiClient;
  /** Closes the server for real and starts a new one on the same port (same engine and worker). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startSdkServer(config: Omit<ServerConfig, 'senpuki' | 'port'> = {}): Promise<SdkServer> {
  const engine = await openEngine('pglite');
  const gates = new Gates();
  registerFunctions(engine, gates);
  const serverConfig = { logger: quietLogger, processMetrics: false, closeGraceMs: 500, ...config, senpuki: engine.senpuki };
  let server = await startServer({ ...serverConfig, port: 0 });
  const port = Number(new URL(server.url).port);
  const worker: Worker = await engine.senpuki.serve({ concurrency: 20 });
  const clients: SenpukiClient[] = [];
  return {
    engine,
    gates,
    get server() {
      return server;
    },
    graphqlUrl: server.graphqlUrl,
    client(options = {}) {
      const client = createSenpukiClient({ url: server.graphqlUrl, webSocketImpl: WebSocket, retry: { initialDelayMs: 50, maxDelayMs: 500 }, ...options });
      clients.push(client);
      return client;
    },
    async restart() {
      await server.close();
      server = await startServer({ ...serverConfig, port });
    },
    async close() {
      gates.openAll();
      await Promise.all(clients.map((client) => client.close()));
      await worker.stop();
      await server.close();
      await engine.close();
    },
  };
}
