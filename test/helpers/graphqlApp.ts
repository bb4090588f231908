import { pino } from 'pino';
import type { Senpuki } from '../../server/engine/senpuki.js';
import { createGraphQLApp, type GraphQLApp, type GraphQLAppConfig } from '../../server/http/createApp.js';
import { openEngine } from './engine.js';
import { postGraphQL, type GraphQLResult } from './graphqlClients.js';
import type { StoreKind } from './stores.js';

export const APP_URL = 'http://localhost/graphql';

/** A GraphQL app over a fresh engine, served through `yoga.fetch` (no port). */
export interface TestApp {
  senpuki: Senpuki;
  app: GraphQLApp;
  /** Runs an operation; returns status and body. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<{ status: number; body: GraphQLResult<T> }>;
  close(): Promise<void>;
}

/** A silent logger, so expected errors do not fill the test output. */
export const quietLogger = pino({ level: 'silent' });

export async function openTestApp(kind: StoreKind = 'pglite', config: Partial<Omit<GraphQLAppConfig, 'senpuki'>> = {}): Promise<TestApp> {
  const engine = await openEngine(kind);
  const app = createGraphQLApp({ logger: quietLogger, processMetrics: false, ...config, senpuki: engine.senpuki });
  return {
    senpuki: engine.senpuki,
    app,
    gql: (query, variables, headers) => postGraphQL((url, init) => app.yoga.fetch(url, init ?? {}), APP_URL, query, variables, headers),
    async close() {
      await app.dispose();
      await engine.close();
    },
  };
}
