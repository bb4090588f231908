import { getOperationAST, Kind, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { LiveContext } from '../schema/builder.js';
import type { Principal } from '../schema/access.js';
import { PushIterator } from '../realtime/pushIterator.js';
import { accessScope } from './useMultiplexedSubscriptions.js';

/**
 * Subscription fields whose every event is the whole current state of one row (and whose
 * arguments pick that row and a `since`): a subscription joining late takes the last event as
 * its snapshot, and a slow socket may skip to the newest state.
 */
const STATE_FIELDS = new Set(['executionUpdated', 'taskUpdated']);
/**
 * List feeds whose events are single changes "from now on" when no `since` is given: a
 * subscription joining late takes the changes from its joining on, every one of them, and
 * nothing before. With `since` they resume from a point of their own and are never shared.
 * (`executionTasksUpdated` starts with a snapshot of its own, so its subscriptions share only
 * the row feed underneath — one per execution, see SharedRowSets — and each row's execution.)
 */
const CHANGE_FIELDS = new Set(['executionsUpdated']);

/** How a shared subscription's results reach a member that joins late or reads slowly. */
export interface SharedField {
  field: string;
  /** State fields: replay the last result to a joiner, keep only the newest for a slow reader. Change fields: neither. */
  state: boolean;
}

/** The root field when `document` is a subscription to one shareable field (and nothing else); else undefined. */
export function sharedField(document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined): SharedField | undefined {
  const operation = getOperationAST(document, operationName);
  if (operation?.operation !== 'subscription') return undefined;
  const [field, ...others] = operation.selectionSet.selections;
  if (others.length > 0 || field?.kind !== Kind.FIELD || field.directives?.length) return undefined;
  const name = field.name.value;
  if (STATE_FIELDS.has(name)) return { field: name, state: true };
  if (!CHANGE_FIELDS.has(name)) return undefined;
  const since = field.arguments?.find((argument) => argument.name.value === 'since');
  const given = since && (since.value.kind === Kind.VARIABLE ? variables?.[since.value.name.value] != null : since.value.kind !== Kind.NULL);
  return given ? undefined : { field: name, state: false };
}

/** What graphql-ws hands over per subscribe message. */
export interface SubscribePayload {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

/**
 * graphql-ws subscriptions of one shareable field with the same query text, operation, variables and
 * access scope share ONE running subscription (a group) in this process: its GraphQL subscribe
 * (access checks, NOT_FOUND, the read token's deadline), its row feed and its executions run once,
 * and each result goes to every member. A member is a small iterator the graphql-ws server
 * drains; it holds no feed, abort controller, timer or GraphQL context of its own.
 *
 *   first subscribe ─► group registered, member 1 ─► full path (Yoga envelop, subscribe resolver) ─► open(stream)
 *   same key while the group runs (or opens) ─► member n: the group's last result as its snapshot, then each next
 *   group's stream ends (terminal row, expiry, shutdown) ─► every member completes
 *   last member leaves ─► the group's stream is returned (feed detached, channel left)
 *
 * Every member's access is the group's: the scope (see `accessScope`) is part of the key, so a
 * read token never joins a key holder's group, nor a token of another execution or expiry.
 * Members are counted as open subscriptions one by one (`LiveContext.opened`), the group not at all.
 */
export class SubscriptionGroups {
  private readonly groups = new Map<string, SubscriptionGroup>();

  constructor(private readonly live: LiveContext) {}

  get size(): number {
    return this.groups.size;
  }

  /** The group key of a subscribe message; undefined when its principal is unknown. */
  keyOf(payload: SubscribePayload, principal: Principal | undefined): string | undefined {
    if (!principal) return undefined;
    return `${payload.query}\u0000${payload.operationName ?? ''}\u0000${JSON.stringify(payload.variables ?? {})}\u0000${accessScope(principal)}`;
  }

  /** The running group for `key`, if any. */
  running(key: string): SubscriptionGroup | undefined {
    return this.groups.get(key);
  }

  /**
   * The live context the group's own subscription runs with: it ends with the server like any
   * other, but is not counted (its members are).
   */
  uncountedLive(): LiveContext {
    const { live } = this;
    return {
      get signal() {
        return live.signal;
      },
      opened: () => () => {},
      counted: () => {},
    };
  }

  /**
   * Registers a group for `key` whose stream is still being opened (`SubscriptionGroup.open`), so
   * subscriptions arriving meanwhile join it instead of opening their own; the caller is its first member.
   */
  start(key: string, shared: SharedField, document: DocumentNode, schema: GraphQLSchema): { group: SubscriptionGroup; member: GroupMember } {
    const group = new SubscriptionGroup(shared, document, schema, () => {
      if (this.groups.get(key) === group) this.groups.delete(key);
    });
    this.groups.set(key, group);
    return { group, member: group.join(this.live) };
  }

  join(group: SubscriptionGroup): GroupMember {
    return group.join(this.live);
  }
}

type Outcome = AsyncIterable<ExecutionResult> | ExecutionResult;

export class SubscriptionGroup {
  private readonly members = new Set<GroupMember>();
  private latest: ExecutionResult | undefined;
  private source: AsyncIterator<ExecutionResult> | undefined;
  private ended = false;

  constructor(
    readonly shared: SharedField,
    readonly document: DocumentNode,
    readonly schema: GraphQLSchema,
    private readonly onEnded: () => void,
  ) {}

  /**
   * What the group's subscribe returned: a stream to share, or one result (an error such as
   * FORBIDDEN or NOT_FOUND), which every member gets before it completes, as it would on its own.
   */
  open(outcome: Outcome): void {
    if (!isAsyncIterable(outcome)) {
      this.latest = outcome;
      this.end();
      for (const member of [...this.members]) {
        member.push(outcome);
        member.finish();
      }
      return;
    }
    this.source = outcome[Symbol.asyncIterator]();
    if (this.ended) {
      // Every member left while it was being opened.
      void Promise.resolve(this.source.return?.()).catch(() => {});
      return;
    }
    void this.pump(this.source);
  }

  /** The stream failed to open: members get what the first subscription got (graphql-ws sends it as an error). */
  fail(error: unknown): void {
    this.end();
    for (const member of [...this.members]) member.finish({ error });
  }

  private async pump(source: AsyncIterator<ExecutionResult>): Promise<void> {
    let failure: { error: unknown } | undefined;
    try {
      for (;;) {
        const next = await source.next();
        if (next.done || this.ended) break;
        if (this.shared.state) this.latest = next.value;
        for (const member of this.members) member.push(next.value);
      }
    } catch (error) {
      failure = { error };
    }
    this.end();
    for (const member of [...this.members]) member.finish(failure);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnded();
  }

  join(live: LiveContext): GroupMember {
    const member = new GroupMember(this, this.shared.state, live.opened(this.shared.field));
    this.members.add(member);
    if (this.latest) member.push(this.latest);
    return member;
  }

  leave(member: GroupMember): void {
    if (!this.members.delete(member) || this.members.size > 0 || this.ended) return;
    // Nobody left: stop the group's stream (its feed detaches from the row); a newcomer starts afresh.
    this.end();
    if (this.source) void Promise.resolve(this.source.return?.()).catch(() => {});
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<ExecutionResult> {
  return typeof (value as AsyncIterable<unknown> | undefined)?.[Symbol.asyncIterator] === 'function';
}

/**
 * One subscription of a group: the results not yet taken, then the end. Of a state field only the
 * newest is kept (its results supersede each other, so a slow socket skips versions instead of
 * queueing them); a change field's are all kept, in order.
 */
export class GroupMember extends PushIterator<ExecutionResult> {
  constructor(
    private readonly group: SubscriptionGroup,
    newestOnly: boolean,
    private readonly uncount: () => void,
  ) {
    super(newestOnly);
  }

  protected override onClose(): void {
    this.group.leave(this);
    this.uncount();
  }
}
