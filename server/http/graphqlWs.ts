import type { Server } from 'node:http';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { CloseCode } from 'graphql-ws';
import type { YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { SenpukiError } from '../errors.js';
import { socketErrors } from '../schema/errors.js';
import type { Principal } from '../schema/access.js';
import type { Senpuki } from '../engine/senpuki.js';
import type { LiveContext, SchemaContext } from '../schema/builder.js';
import { RowSubscriptions, type RowConnection, type SubscribeMessage } from './rowSubscriptions.js';
import { sharedField, SubscriptionGroups, type GroupMember, type SubscriptionGroup } from './subscriptionGroups.js';
import { serveGraphQLWs, type WsExtra } from './wsGlue.js';
import { authorizationFromConnectionParams, type Authenticator } from './authenticator.js';
import type { OriginPolicy } from './originPolicy.js';

export interface GraphQLWsOptions {
  server: Server;
  path: string;
  yoga: YogaServerInstance<Record<string, any>, Record<string, any>>;
  authenticator: Authenticator;
  maxSubscriptionsPerConnection: number;
  /** Browser pages from other origins (and, without keys, foreign Host names) are refused at the upgrade. */
  originPolicy: OriginPolicy;
  /** Largest message a client may send (ws closes the socket with 1009 above it). */
  maxPayloadBytes: number;
  keepAliveMs: number;
  logger: Logger;
  /** Turns an error thrown while building the context into the error the client sees. */
  maskError: (error: unknown, message: string) => Error;
  /** Counts open subscriptions (a group's members one by one) and ends them at shutdown. */
  live: LiveContext;
  /**
   * Given, subscriptions to one row's state run on the row path (rowSubscriptions.ts) instead of
   * Yoga's per-operation pipeline. Left out when the application adds Yoga plugins of its own,
   * which would expect to see every operation.
   */
  rowPath?: { senpuki: Senpuki; contextFor(principal: Principal): SchemaContext };
  /**
   * Counts a subscription started outside Yoga's envelop (whose plugins count the others): one on
   * the row path, or a member joining a running group.
   */
  subscriptionStarted?: () => void;
}

export interface GraphQLWsHandle {
  readonly connectionCount: number;
  /** Closes every socket (1001), waits up to `graceMs` for them, then cuts the rest. Idempotent. */
  close(graceMs: number): Promise<void>;
}

interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => unknown;
  subscribe: (args: ExecutionArgs) => unknown;
  /** Set when this subscription opens a group (see subscriptionGroups.ts); `member` is its own place in it. */
  group?: SubscriptionGroup;
  member?: GroupMember;
}

/** The root of a subscription that joined a running group: nothing runs for it but its member. */
interface JoinedRoot {
  member: GroupMember;
}

/** What this server keeps per graphql-ws connection. */
interface ConnectionExtra extends Record<PropertyKey, unknown> {
  principal: Principal;
  /** Set once the connection is authenticated; the row path's view of it. */
  rows: RowConnection & { acknowledged(): boolean };
}

/**
 * A subscribe message for the row path, when the connection is acknowledged and the message well
 * formed, with a fresh id and room under the limit; anything else is graphql-ws's to answer
 * (protocol errors close the socket, the limit's error, duplicate ids).
 */
function takeRowSubscription(rows: RowSubscriptions, text: string, extra: WsExtra & Partial<ConnectionExtra>, maxPerConnection: number): boolean {
  const connection = extra.rows;
  if (!connection?.acknowledged() || !extra.principal || !text.includes('"subscribe"')) return false;
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return false;
  }
  if (!isSubscribeMessage(message)) return false;
  const { subscriptions } = connection;
  if (message.id in subscriptions || Object.keys(subscriptions).length >= maxPerConnection) return false;
  return rows.take(message, extra.principal, connection);
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isOptional = (value: unknown, check: (value: unknown) => boolean) => value === undefined || value === null || check(value);

/** The checks graphql-ws makes of a subscribe message (its `parseMessage`). */
function isSubscribeMessage(message: unknown): message is SubscribeMessage {
  if (!isObject(message) || message.type !== 'subscribe' || typeof message.id !== 'string' || message.id === '') return false;
  const { payload } = message;
  return (
    isObject(payload) &&
    typeof payload.query === 'string' &&
    isOptional(payload.operationName, (value) => typeof value === 'string') &&
    isOptional(payload.variables, isObject) &&
    isOptional(payload.extensions, isObject)
  );
}

/** graphql-ws close reasons are limited to 123 bytes. */
const closeReason = (text: string): string => (Buffer.byteLength(text) <= 123 ? text : `${text.slice(0, 110)}…`);

/**
 * graphql-ws on the HTTP server's GraphQL path, running every operation through Yoga's envelop
 * (the recipe from Yoga's docs), so the schema, masking, limits and metrics are the HTTP ones.
 * The exceptions are a subscription that joins a running one of the same key (subscriptionGroups.ts),
 * which gets that one's results and runs nothing itself, and one on the row path; both are counted
 * as started through `subscriptionStarted`, as Yoga's metrics plugin counts the others.
 * The connection authenticates once, from `connectionParams.authorization`; a bad credential
 * closes it with 4401 and a reason, which graphql-ws clients treat as final (no retry loop).
 */
export function attachGraphQLWs(options: GraphQLWsOptions): GraphQLWsHandle {
  const { yoga, authenticator, logger } = options;
  const wss = new WebSocketServer({
    server: options.server,
    path: options.path,
    maxPayload: options.maxPayloadBytes,
    // Browsers send Origin with every WebSocket, and do not apply CORS to it: this check is the
    // only thing that keeps a page on another origin off the local server.
    verifyClient: ({ origin, req }, done) => {
      const host = req.headers.host;
      const refusal = options.originPolicy.refuseHost(host) ?? options.originPolicy.refuseOrigin(origin, host);
      if (!refusal) return done(true);
      logger.info({ origin, host }, 'graphql-ws connection refused by the origin policy');
      done(false, 403, closeReason(refusal));
    },
  });
  const groups = new SubscriptionGroups(options.live);
  const rows =
    options.rowPath &&
    new RowSubscriptions({
      ...options.rowPath,
      live: options.live,
      maskError: options.maskError,
      logger,
      prepare: (query) => {
        const { schema, parse, validate } = yoga.getEnveloped({ params: { query } });
        try {
          const document = parse(query);
          return validate(schema, document).length === 0 ? { schema, document } : undefined;
        } catch {
          return undefined; // graphql-ws's path answers the parse error
        }
      },
    });
  const disposable = serveGraphQLWs<ConnectionExtra>(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: async (args) => {
        const root = args.rootValue as EnvelopedRoot | JoinedRoot;
        if (!('subscribe' in root)) return root.member as never;
        if (!root.group) return root.subscribe(args) as never;
        try {
          root.group.open((await root.subscribe(args)) as never);
        } catch (error) {
          root.group.fail(error);
        }
        return root.member as never;
      },
      onConnect: async (ctx) => {
        try {
          ctx.extra.principal = await authenticator.authenticate(authorizationFromConnectionParams(ctx.connectionParams));
          ctx.extra.rows = {
            // graphql-ws replaces the registry when the socket closes: read it through the context.
            get subscriptions() {
              return ctx.subscriptions as Record<string, unknown>;
            },
            send: ctx.extra.send,
            acknowledged: () => ctx.acknowledged,
          };
          return true;
        } catch (error) {
          const message = error instanceof SenpukiError ? error.message : 'Authentication failed';
          ctx.extra.socket.close(CloseCode.Unauthorized, closeReason(`Unauthorized: ${message}`));
          return false;
        }
      },
      // Errors graphql-js raises about the request itself (a variable of the wrong type) carry no
      // code; over HTTP Yoga adds one, here we do, so every error a client sees says its kind.
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!result.errors?.length) return;
        return { ...result, errors: socketErrors([...result.errors], 'BAD_USER_INPUT') };
      },
      onSubscribe: async (ctx, _id, payload) => {
        // graphql-ws registers the operation before calling us, so this count includes it.
        if (Object.keys(ctx.subscriptions).length > options.maxSubscriptionsPerConnection) {
          return [
            new GraphQLError(
              `This connection already runs ${options.maxSubscriptionsPerConnection} operations, the limit (limits.maxSubscriptionsPerConnection); complete some or open another connection`,
              { extensions: { code: 'LIMIT_EXCEEDED' } },
            ),
          ];
        }
        const key = groups.keyOf(payload, ctx.extra.principal);
        const running = key === undefined ? undefined : groups.running(key);
        if (running) {
          // Same text, variables and scope as a subscription running now: share it (no envelop, context or resolver run).
          const root: JoinedRoot = { member: groups.join(running) };
          options.subscriptionStarted?.();
          return { schema: running.schema, operationName: payload.operationName, document: running.document, variableValues: payload.variables, contextValue: undefined, rootValue: root };
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          principal: ctx.extra.principal,
        });
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return socketErrors([error instanceof GraphQLError ? error : new GraphQLError('The query could not be parsed')], 'GRAPHQL_PARSE_FAILED');
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return socketErrors(errors, 'GRAPHQL_VALIDATION_FAILED');
        let contextValue;
        try {
          contextValue = await contextFactory();
        } catch (error) {
          const masked = options.maskError(error, 'Unexpected error.');
          return [masked instanceof GraphQLError ? masked : new GraphQLError(masked.message)];
        }
        const root: EnvelopedRoot = { execute, subscribe };
        const shared = key === undefined ? undefined : sharedField(document, payload.operationName, payload.variables);
        if (key !== undefined && shared !== undefined) {
          // The group's own subscription is not counted: its members are, one by one.
          (contextValue as unknown as { live: LiveContext }).live = groups.uncountedLive();
          Object.assign(root, groups.start(key, shared, document, schema));
        }
        return { schema, operationName: payload.operationName, document, variableValues: payload.variables, contextValue, rootValue: root };
      },
    },
    wss,
    options.keepAliveMs,
    logger,
    rows &&
      ((text, extra) => {
        const taken = takeRowSubscription(rows, text, extra, options.maxSubscriptionsPerConnection);
        if (taken) options.subscriptionStarted?.();
        return taken;
      }),
  );

  let closing: Promise<void> | undefined;
  return {
    get connectionCount() {
      return wss.clients.size;
    },
    close(graceMs) {
      closing ??= (async () => {
        const clients = [...wss.clients];
        const timer = setTimeout(() => {
          for (const client of clients) client.terminate();
        }, graceMs);
        try {
          await disposable.dispose();
        } finally {
          clearTimeout(timer);
        }
      })();
      return closing;
    },
  };
}
