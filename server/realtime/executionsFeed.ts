/**
 * Every execution matching a filter whose row changes (dashboards, GraphQL `executionsUpdated`):
 * a row set (see rowSetFeed.ts) over the executions list channel and the executions'
 * change sequence.
 */
import { EXECUTIONS_CHANNEL } from '../notifications/channels.js';
import type { ExecutionRecord, ExecutionState } from '../domain/types.js';
import type { ExecutionFilter, Store } from '../store/store.js';
import { parseRowMessage, SharedRowSets, type RowSet, type RowSetFeedConfig } from './rowSetFeed.js';

export interface ExecutionsFeedConfig extends RowSetFeedConfig {
  store: Store;
  /** Reads one execution (pass the change feed's batching loader so concurrent reads share a query). */
  readExecution?: (id: string) => Promise<ExecutionRecord | undefined>;
}

export interface ExecutionsWatchOptions {
  /** Change sequence (an Execution's `changeSeq`) to resume after; default: only changes from now on. */
  since?: string;
  signal?: AbortSignal;
}

export class ExecutionsFeed {
  private readonly read: (id: string) => Promise<ExecutionRecord | undefined>;
  /** One feed per filter watched in this process, however many subscriptions follow it. */
  private readonly shared: SharedRowSets<ExecutionRecord>;

  constructor(private readonly config: ExecutionsFeedConfig) {
    this.read = config.readExecution ?? ((id) => config.store.getExecution(id));
    this.shared = new SharedRowSets(config);
  }

  /** Filters watched in this process. */
  get feedCount(): number {
    return this.shared.size;
  }

  /**
   * The position "now" in the change sequence. Read it when a subscription is established and
   * pass it as `since`, so "subscribe, then query the list" misses nothing in between.
   */
  currentCursor(): Promise<string> {
    return this.config.store.maxExecutionChangeSeq();
  }

  /** Each change of an execution matching `filter`, in write order within a batch; never ends by itself. */
  watch(filter: ExecutionFilter, options: ExecutionsWatchOptions = {}): AsyncGenerator<ExecutionRecord> {
    const states = filter.state === undefined ? undefined : [...new Set([filter.state].flat())].sort();
    const key = JSON.stringify([states, filter.functionName, filter.tag, filter.queue, filter.createdAfter?.getTime(), filter.createdBefore?.getTime()]);
    return this.shared.watch(key, () => this.matching(filter), options);
  }

  private matching(filter: ExecutionFilter): RowSet<ExecutionRecord> {
    const { store } = this.config;
    const states = filter.state === undefined ? undefined : new Set<ExecutionState>([filter.state].flat());
    // State is the one filter field that changes over a row's life: polls select without it and
    // `inView` keeps rows leaving the view.
    const sqlFilter: ExecutionFilter = { ...filter, state: undefined };
    return {
      channels: [
        {
          channel: EXECUTIONS_CHANNEL,
          rowOf: (payload, tracked) => {
            const message = parseRowMessage<ExecutionState>(payload, 'execution_id');
            // A state the view does not show matters only for a row leaving it.
            if (!message || (states && !states.has(message.state) && !tracked(message.id))) return undefined;
            return message.id;
          },
        },
      ],
      read: this.read,
      changedAfter: (afterSeq, limit) => store.listExecutionsChangedAfter(sqlFilter, afterSeq, limit),
      inView: (row) => matchesFilter(row, filter, states),
      start: () => this.currentCursor(),
      snapshot: false,
    };
  }
}

/** Whether `row` is in the view `filter` describes (the same rules as the SQL filter). */
export function matchesFilter(row: ExecutionRecord, filter: ExecutionFilter, states?: ReadonlySet<ExecutionState>): boolean {
  if (states && !states.has(row.state)) return false;
  if (filter.functionName !== undefined && row.functionName !== filter.functionName) return false;
  if (filter.tag !== undefined && !row.tags.includes(filter.tag)) return false;
  if (filter.queue !== undefined && row.queue !== filter.queue) return false;
  if (filter.createdAfter !== undefined && !(row.createdAt > filter.createdAfter)) return false;
  if (filter.createdBefore !== undefined && !(row.createdAt < filter.createdBefore)) return false;
  return true;
}
