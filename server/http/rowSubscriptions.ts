import {
  execute,
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  Kind,
  locatedError,
  type DocumentNode,
  type ExecutionResult,
  type FieldNode,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { ExecutionRecord, TaskRecord } from '../domain/types.js';
import type { Senpuki } from '../engine/senpuki.js';
import { SpanKind, inSpan } from '../engine/tracing.js';
import { StreamFailure } from '../realtime/liveStream.js';
import type { RowConsumer, RowWatcher, Versioned } from '../realtime/rowWatcher.js';
import { accessDeadline, tokenExpiredError, type Principal } from '../schema/access.js';
import type { LiveContext, SchemaContext } from '../schema/builder.js';
import { socketErrors } from '../schema/errors.js';
import { executionUpdatedTarget, type RowTarget } from '../schema/execution.js';
import { taskUpdatedTarget } from '../schema/task.js';
import type { SubscribePayload } from './subscriptionGroups.js';
import { operationSpan } from './useTracing.js';
import { accessScope } from './useMultiplexedSubscriptions.js';

/** How one subscription field follows its row: its checks (shared with its resolver), and its watcher. */
interface RowField {
  target(ctx: Pick<SchemaContext, 'principal' | 'senpuki'>, args: { id: string | number; since?: number | null }): Promise<RowTarget>;
  attach(senpuki: Senpuki, id: string, consumer: RowConsumer<Versioned>): RowWatcher<Versioned>;
}

/** The subscription fields whose every event is the whole current state of one row. */
const ROW_FIELDS: Readonly<Record<string, RowField>> = {
  executionUpdated: {
    target: executionUpdatedTarget,
    attach: (senpuki, id, consumer) => senpuki.attachToExecution(id, consumer as RowConsumer<ExecutionRecord>) as unknown as RowWatcher<Versioned>,
  },
  taskUpdated: {
    target: taskUpdatedTarget,
    attach: (senpuki, id, consumer) => senpuki.attachToTask(id, consumer as RowConsumer<TaskRecord>) as unknown as RowWatcher<Versioned>,
  },
};

/** A subscription document this path runs: parsed and validated once per query text and operation. */
interface RowPlan {
  id: number;
  schema: GraphQLSchema;
  name: string;
  field: RowField;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  fieldNode: FieldNode;
  fieldDef: GraphQLField<unknown, unknown>;
  /** The span of a subscription's start (its checks), named as Yoga's path names it (useTracing.ts). */
  span: { title: string; attributes: Record<string, string> };
}

/** A graphql-ws subscribe message. */
export interface SubscribeMessage {
  id: string;
  payload: SubscribePayload;
}

/** The graphql-ws connection a subscription lives on: graphql-ws's registry of its operations, and the socket's send. */
export interface RowConnection {
  subscriptions: Record<string, unknown>;
  send(data: string): void | Promise<void>;
}

export interface RowSubscriptionsOptions {
  senpuki: Senpuki;
  live: LiveContext;
  /** Parses and validates a query text as every other operation is (limits included); undefined when it has errors. */
  prepare(query: string): { schema: GraphQLSchema; document: DocumentNode } | undefined;
  /** The context a row's selection set runs with, for a principal. */
  contextFor(principal: Principal): SchemaContext;
  maskError(error: unknown, message: string): Error;
  logger: Logger;
}

/** Query texts whose plan is kept (most recently used); a text longer than the last limit is never kept. */
const PLAN_CACHE_ENTRIES = 1000;
const PLAN_CACHE_MAX_QUERY_CHARS = 16 * 1024;

/**
 * graphql-ws subscriptions to one row's state (`executionUpdated`, `taskUpdated`) without a
 * GraphQL pipeline, async generator, abort controller or timer of their own: a subscription is
 * one small object attached to its row's shared watcher (realtime/rowWatcher.ts), which sends
 * each newer version of the row down its socket. Ten thousand subscriptions on ten thousand
 * rows cost ten thousand of those objects and ten thousand watchers, nothing more.
 *
 *   subscribe message ─► plan of the text (parsed and validated once, with the server's limits)
 *     ─► the field's checks (the same function its resolver runs: id, access, `since`, NOT_FOUND)
 *     ─► attached to the row's watcher ─► each newer version: its selection executed, sent as `next`
 *     ─► terminal version, the row gone, the read token's expiry or shutdown ─► `complete`
 *
 * Subscriptions with the same document, variables and access scope share one execution per row
 * version and its serialized payload (the row object is one per version, see rowWatcher.ts);
 * the scope is part of that key, so principals that may see different things never share.
 * graphql-ws keeps each in its registry of the connection's operations, so a client's `complete`,
 * a closed socket, duplicate ids and the per-connection limit work as for any operation.
 * Errors are what the Yoga path answers: masked, coded, then `complete`.
 */
export class RowSubscriptions {
  private readonly plans = new LRUCache<string, RowPlan | false>({ max: PLAN_CACHE_ENTRIES });
  private planCount = 0;
  /** Per row version: the payload of each key executed for it. */
  private readonly payloads = new WeakMap<object, Map<string, Promise<string>>>();
  private readonly open = new Set<RowSubscription>();

  constructor(readonly options: RowSubscriptionsOptions) {
    const { signal } = options.live;
    signal.addEventListener('abort', () => {
      for (const subscription of [...this.open]) subscription.shutdown();
    }, { once: true });
  }

  /**
   * Takes the subscribe message when it is a subscription this path runs, on an acknowledged
   * connection, with a fresh id and room under the connection's limit; false leaves it to graphql-ws
   * (which answers the others, and the protocol errors).
   */
  take(message: SubscribeMessage, principal: Principal, connection: RowConnection): boolean {
    if (this.options.live.signal.aborted) return false;
    const plan = this.planOf(message.payload.query, message.payload.operationName);
    if (!plan) return false;
    const subscription = new RowSubscription(this, plan, message, principal, connection);
    connection.subscriptions[message.id] = subscription;
    this.open.add(subscription);
    void subscription.start();
    return true;
  }

  private planOf(query: string, operationName: string | null | undefined): RowPlan | undefined {
    if (query.length > PLAN_CACHE_MAX_QUERY_CHARS) return undefined;
    const key = `${operationName ?? ''}\u0000${query}`;
    const known = this.plans.get(key);
    if (known !== undefined) return known || undefined;
    const plan = this.makePlan(query, operationName);
    this.plans.set(key, plan ?? false);
    return plan;
  }

  private makePlan(query: string, operationName: string | null | undefined): RowPlan | undefined {
    const prepared = this.options.prepare(query);
    if (!prepared) return undefined;
    const operation = getOperationAST(prepared.document, operationName);
    if (operation?.operation !== 'subscription') return undefined;
    const [fieldNode, ...others] = operation.selectionSet.selections;
    if (others.length > 0 || fieldNode?.kind !== Kind.FIELD || fieldNode.directives?.length) return undefined;
    const name = fieldNode.name.value;
    const field = ROW_FIELDS[name];
    const fieldDef = prepared.schema.getSubscriptionType()?.getFields()[name];
    if (!field || !fieldDef) return undefined;
    return { id: ++this.planCount, schema: prepared.schema, name, field, document: prepared.document, operation, fieldNode, fieldDef, span: operationSpan(operation) };
  }

  /** The `next` payload of `event` (a row version, or a failure) for a key: executed once per key and version. */
  payloadFor(event: object, subscription: RowSubscription): Promise<string> {
    let byKey = this.payloads.get(event);
    if (!byKey) this.payloads.set(event, (byKey = new Map()));
    let payload = byKey.get(subscription.key);
    if (!payload) {
      payload = this.execute(event, subscription);
      byKey.set(subscription.key, payload);
    }
    return payload;
  }

  private async execute(event: object, subscription: RowSubscription): Promise<string> {
    const { plan } = subscription;
    const result = await execute({
      schema: plan.schema,
      document: plan.document,
      operationName: plan.operation.name?.value,
      rootValue: event,
      contextValue: this.options.contextFor(subscription.principal),
      variableValues: subscription.variables,
    });
    return this.serialize(result);
  }

  /** A result as graphql-ws sends it: errors masked, each with a code. */
  serialize(result: ExecutionResult): string {
    if (!result.errors?.length) return JSON.stringify(result);
    const masked = result.errors.map((error) => {
      const replaced = this.options.maskError(error, 'Unexpected error.');
      return replaced instanceof GraphQLError ? replaced : new GraphQLError(replaced.message);
    });
    return JSON.stringify({ ...result, errors: socketErrors(masked, 'BAD_USER_INPUT') });
  }

  closed(subscription: RowSubscription): void {
    this.open.delete(subscription);
  }
}

/**
 * One subscription. graphql-ws holds it in the connection's operations as an async generator
 * (its `return()` is what a client's `complete` and a closed socket call); it is never iterated:
 * it sends its own messages.
 */
class RowSubscription implements RowConsumer<Versioned>, AsyncIterableIterator<never> {
  /** Its id on the connection (the subscribe message is not kept: its query text is the plan's). */
  private readonly id: string;
  readonly key: string;
  readonly variables: Record<string, unknown> | undefined;
  private seen = 0;
  private watcher: RowWatcher<Versioned> | undefined;
  /** The newest event not yet sent: a row version, or a failure (sent as the field's error). */
  private pending: object | undefined;
  /** Complete once what is pending is sent. */
  private ending = false;
  private sending = false;
  private ended = false;
  private expiry: NodeJS.Timeout | undefined;

  constructor(
    private readonly owner: RowSubscriptions,
    readonly plan: RowPlan,
    message: SubscribeMessage,
    readonly principal: Principal,
    private readonly connection: RowConnection,
  ) {
    this.id = message.id;
    this.variables = message.payload.variables ?? undefined;
    this.key = `${plan.id}\u0000${accessScope(principal)}\u0000${JSON.stringify(this.variables ?? {})}`;
    owner.options.live.counted(plan.name, 1);
  }

  /** Its checks, then its row: or the field's error and `complete`. */
  async start(): Promise<void> {
    const { plan } = this;
    const coerced = getVariableValues(plan.schema, plan.operation.variableDefinitions ?? [], this.variables ?? {});
    if (coerced.errors) return this.refuse(coerced.errors);
    let target: RowTarget;
    try {
      const args = getArgumentValues(plan.fieldDef, plan.fieldNode, coerced.coerced) as { id: string; since?: number | null };
      const check = () => plan.field.target({ principal: this.principal, senpuki: this.owner.options.senpuki }, args);
      target = await inSpan(plan.span.title, { kind: SpanKind.SERVER, attributes: plan.span.attributes }, check);
    } catch (error) {
      const responseKey = plan.fieldNode.alias?.value ?? plan.name;
      return this.refuse([locatedError(error, [plan.fieldNode], [responseKey])]);
    }
    if (this.ended) return;
    this.seen = target.since ?? 0;
    const deadline = accessDeadline({ principal: this.principal });
    if (deadline) this.expiry = setTimeout(() => this.expire(deadline), Math.max(0, Math.min(deadline.getTime() - Date.now(), 2 ** 31 - 1))).unref();
    this.watcher = plan.field.attach(this.owner.options.senpuki, target.id, this);
  }

  /** Refused as it started: the errors as one `next`, then `complete` (what graphql-ws sends for a subscribe that returned errors). */
  private refuse(errors: readonly GraphQLError[]): void {
    if (this.ended) return;
    void this.sendThenComplete(this.owner.serialize({ errors }));
  }

  private async sendThenComplete(payload: string): Promise<void> {
    try {
      await this.send(payload);
    } finally {
      this.complete();
    }
  }

  offer(row: Versioned, terminal: boolean): void {
    if (this.ended) return;
    if (row.version > this.seen) {
      this.seen = row.version;
      this.pending = row;
    }
    if (terminal) this.ending = true;
    void this.flush();
  }

  /** The row is gone (NOT_FOUND): that error, then `complete`. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.pending = new StreamFailure(error);
    this.ending = true;
    void this.flush();
  }

  private expire(deadline: Date): void {
    if (this.ended) return;
    this.detach();
    this.pending = new StreamFailure(tokenExpiredError(deadline));
    this.ending = true;
    void this.flush();
  }

  /** The server shuts down: `complete`, as every other subscription. */
  shutdown(): void {
    if (this.ended) return;
    this.detach();
    this.pending = undefined;
    this.ending = true;
    void this.flush();
  }

  /** Sends the newest pending event (a slow socket skips versions), then `complete` when ending. */
  private async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (!this.ended && this.pending) {
        const event = this.pending;
        this.pending = undefined;
        const payload = await this.owner.payloadFor(event, this);
        if (this.ended) return;
        await this.send(payload);
      }
      if (this.ending) this.complete();
    } catch (error) {
      this.owner.options.logger.error({ err: error }, 'a row subscription failed to send');
      this.complete();
    } finally {
      this.sending = false;
    }
  }

  private send(payload: string): void | Promise<void> {
    return this.connection.send(`{"id":${JSON.stringify(this.id)},"type":"next","payload":${payload}}`);
  }

  /** Ends it from the server's side: the client is told with `complete` (unless it already left). */
  private complete(): void {
    if (this.ended) return;
    const registered = this.connection.subscriptions[this.id] === this;
    this.end();
    if (!registered) return;
    delete this.connection.subscriptions[this.id];
    void this.connection.send(`{"id":${JSON.stringify(this.id)},"type":"complete"}`);
  }

  private detach(): void {
    this.watcher?.detach(this);
    this.watcher = undefined;
    clearTimeout(this.expiry);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.pending = undefined;
    this.detach();
    this.owner.options.live.counted(this.plan.name, -1);
    this.owner.closed(this);
  }

  // graphql-ws's side: a client's `complete`, or the socket closing (graphql-ws has removed it already).
  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<never>> {
    return Promise.resolve({ done: true, value: undefined });
  }

  return(): Promise<IteratorResult<never>> {
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  throw(error: unknown): Promise<IteratorResult<never>> {
    this.end();
    return Promise.reject(error);
  }
}
