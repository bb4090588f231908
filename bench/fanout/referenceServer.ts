/**
 * The reference of the fan-out bench: a bare graphql-yoga + graphql-ws server with Yoga's
 * in-memory pubsub, written the way its docs show (an async generator per subscription: the
 * snapshot, then each published row). No database, no Redis: it is the floor for delivering
 * the same events to the same sockets, not a durable system. A burst publishes terminal rows.
 */
import { createServer } from 'node:http';
import { once } from 'node:events';
import { createPubSub, createSchema, createYoga } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { sampleProcess, serve, wallNow } from './ipc.js';

interface Row {
  id: string;
  state: string;
  version: number;
}

const rows = new Map<string, Row>();
const pubsub = createPubSub<{ execution: [id: string, row: Row] }>();
const yoga = createYoga({
  graphqlEndpoint: '/graphql',
  logging: false,
  schema: createSchema({
    typeDefs: /* GraphQL */ `
      type Execution { id: ID! state: String! version: Int! }
      type Query { ok: Boolean }
      type Subscription { executionUpdated(id: ID!): Execution! }
    `,
    resolvers: {
      Subscription: {
        executionUpdated: {
          subscribe: async function* (_root: unknown, { id }: { id: string }) {
            const snapshot = rows.get(id);
            if (!snapshot) throw new Error(`No execution with id ${id}`);
            yield snapshot;
            if (snapshot.state !== 'PENDING') return;
            for await (const row of pubsub.subscribe('execution', id)) {
              yield row;
              if (row.state !== 'PENDING') return;
            }
          },
          resolve: (row: Row) => row,
        },
      },
    },
  }),
});

const server = createServer(yoga);
const wss = new WebSocketServer({ server, path: '/graphql' });
// Yoga's recipe for graphql-ws: every operation through its envelop.
useServer(
  {
    execute: (args: any) => args.rootValue.execute(args),
    subscribe: (args: any) => args.rootValue.subscribe(args),
    onSubscribe: async (ctx, _id, params) => {
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params });
      const document = parse(params.query);
      const errors = validate(schema, document);
      if (errors.length > 0) return errors;
      return { schema, operationName: params.operationName, document, variableValues: params.variables, contextValue: await contextFactory(), rootValue: { execute, subscribe } };
    },
  },
  wss,
);
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address() as { port: number };

serve({
  url: () => `http://127.0.0.1:${port}/graphql`,
  sample: () => sampleProcess(),
  create: ({ ids }: { ids: string[] }) => {
    for (const id of ids) rows.set(id, { id, state: 'PENDING', version: 1 });
    return ids.length;
  },
  /** Publishes every row's terminal version; answers with each publish's time. */
  burst: ({ ids }: { ids: string[] }) => {
    const committedAt: number[] = [];
    for (const id of ids) {
      const row = { id, state: 'CANCELLED', version: 2 };
      rows.set(id, row);
      pubsub.publish('execution', id, row);
      committedAt.push(wallNow());
    }
    return committedAt;
  },
  exit: async () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    server.close();
  },
});
