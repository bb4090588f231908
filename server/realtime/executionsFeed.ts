/**
 * The list counterpart of the change feed: every execution matching a filter whose row changes
 * (dashboards, GraphQL `executionsUpdated`).
 *
 *   listen 'senpuki:executions' ─► confirmed (or timed out) ─► cursor = `since` or the latest change
 *        │                                                          │
 *        │  message {execution_id}: re-read that row ───────────────┤
 *        │  poll tick: rows with change_seq > cursor (filter in SQL)┤
 *        │                                                          ▼
 *        └──────────────── emit a row when its version is newer than the one last emitted
 *
 * Same rules as the per-row feed: messages are hints and the store is the truth, so a lost
 * message costs one poll interval. A row that stops matching a state filter is emitted once more
 * (the change that takes it out of the view), then forgotten.
 *
 * Change sequence numbers are taken when a row is written but become visible at commit, so a
 * slow transaction can commit a number below one already read. The poll cursor therefore lags
 * one tick behind the highest number seen: each poll re-reads the previous tick's window (the
 * version check drops repeats) and catches such late commits.
 */
import { EXECUTIONS_CHANNEL } from '../engine/announcer.js';
import type { ExecutionRecord, ExecutionState } from '../engine/types.js';
import { hasChannelListener, type NotificationBackend } from '../notifications/backend.js';
import type { ExecutionFilter, Store } from '../store/store.js';
import {
  DEFAULT_LISTEN_CONFIRM_TIMEOUT_MS,
  DEFAULT_POLL_BACKOFF_FACTOR,
  DEFAULT_POLL_MAX_INTERVAL_MS,
  DEFAULT_POLL_MIN_INTERVAL_MS,
  type PollOptions,
} from './changeFeed.js';

/** Executions whose last emitted version one subscription remembers (oldest forgotten first). */
export const DEFAULT_MAX_TRACKED_EXECUTIONS = 10_000;
/** Rows per poll query; a full page is followed by the next one at once. */
export const DEFAULT_POLL_PAGE_SIZE = 500;

export interface ExecutionsFeedConfig extends Partial<PollOptions> {
  store: Store;
  notifications?: NotificationBackend;
  /** As for the change feed: push may relax polling only when every writer publishes where we listen. */
  pushReachesAllWriters: boolean;
  /** Reads one execution (pass the change feed's batching loader so concurrent reads share a query). */
  readExecution?: (id: string) => Promise<ExecutionRecord | undefined>;
  listenConfirmTimeoutMs?: number;
  maxTrackedExecutions?: number;
  pollPageSize?: number;
}

export interface ExecutionsWatchOptions {
  /** Change sequence (an Execution's `changeSeq`) to resume after; default: only changes from now on. */
  since?: string;
  signal?: AbortSignal;
}

export class ExecutionsFeed {
  private readonly poll: PollOptions;
  private readonly read: (id: string) => Promise<ExecutionRecord | undefined>;

  constructor(private readonly config: ExecutionsFeedConfig) {
    this.poll = {
      pollMinIntervalMs: config.pollMinIntervalMs ?? DEFAULT_POLL_MIN_INTERVAL_MS,
      pollMaxIntervalMs: config.pollMaxIntervalMs ?? DEFAULT_POLL_MAX_INTERVAL_MS,
      pollBackoffFactor: config.pollBackoffFactor ?? DEFAULT_POLL_BACKOFF_FACTOR,
    };
    this.read = config.readExecution ?? ((id) => config.store.getExecution(id));
  }

  /**
   * The position "now" in the change sequence. Read it when a subscription is established and
   * pass it as `since`, so "subscribe, then query the list" misses nothing in between.
   */
  currentCursor(): Promise<string> {
    return this.config.store.maxExecutionChangeSeq();
  }

  /** Each change of an execution matching `filter`, in write order within a batch; never ends by itself. */
  async *watch(filter: ExecutionFilter, options: ExecutionsWatchOptions = {}): AsyncGenerator<ExecutionRecord> {
    const { signal } = options;
    const states = filter.state === undefined ? undefined : new Set<ExecutionState>([filter.state].flat());
    // State is the one filter field that changes over a row's life: polls select without it and
    // the check below keeps rows leaving the view.
    const sqlFilter: ExecutionFilter = { ...filter, state: undefined };
    const seen = new Map<string, number>();
    const maxTracked = this.config.maxTrackedExecutions ?? DEFAULT_MAX_TRACKED_EXECUTIONS;
    const dirty = new Set<string>();
    let wake: (() => void) | undefined;
    const onMessage = (payload: string) => {
      const message = parseMessage(payload);
      if (!message) return;
      if (states && !states.has(message.state) && !seen.has(message.execution_id)) return;
      dirty.add(message.execution_id);
      wake?.();
    };
    const channel = this.openChannel(onMessage);
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      await Promise.race([channel.settled, delay(this.config.listenConfirmTimeoutMs ?? DEFAULT_LISTEN_CONFIRM_TIMEOUT_MS)]);
      if (signal?.aborted) return;
      let highest = options.since ?? (await this.config.store.maxExecutionChangeSeq());
      let pollFrom = highest;
      let intervalMs = this.poll.pollMinIntervalMs;
      let pollAt = options.since === undefined ? Date.now() + intervalMs : 0;
      for (;;) {
        if (dirty.size === 0 && Date.now() < pollAt) {
          const waitMs = Math.max(0, pollAt - Date.now());
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, waitMs);
            timer.unref();
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
        }
        if (signal?.aborted) return;
        const rows: ExecutionRecord[] = [];
        if (dirty.size > 0) {
          const ids = [...dirty];
          dirty.clear();
          for (const row of await Promise.all(ids.map((id) => this.read(id)))) if (row) rows.push(row);
        }
        let polled = false;
        if (Date.now() >= pollAt) {
          polled = true;
          const found = await this.pollChanges(sqlFilter, pollFrom);
          rows.push(...found);
          const top = found.reduce((max, row) => (BigInt(row.changeSeq) > BigInt(max) ? row.changeSeq : max), highest);
          pollFrom = highest; // lag one tick: see the module comment
          highest = top;
        }
        if (signal?.aborted) return;
        rows.sort((a, b) => (BigInt(a.changeSeq) < BigInt(b.changeSeq) ? -1 : 1));
        let emitted = false;
        for (const row of rows) {
          const matches = matchesFilter(row, filter, states);
          const last = seen.get(row.id);
          if (!matches && last === undefined) continue;
          if (last !== undefined && row.version <= last) continue;
          seen.delete(row.id);
          if (matches) {
            seen.set(row.id, row.version);
            if (seen.size > maxTracked) seen.delete(seen.keys().next().value!);
          }
          emitted = true;
          yield row;
          if (signal?.aborted) return;
        }
        if (polled) {
          const relaxed = channel.live && this.config.pushReachesAllWriters && isConnected(this.config.notifications);
          intervalMs = emitted ? this.poll.pollMinIntervalMs : Math.min(this.poll.pollMaxIntervalMs, intervalMs * this.poll.pollBackoffFactor);
          pollAt = Date.now() + (relaxed ? this.poll.pollMaxIntervalMs : intervalMs);
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      channel.close();
    }
  }

  private async pollChanges(filter: ExecutionFilter, afterSeq: string): Promise<ExecutionRecord[]> {
    const pageSize = this.config.pollPageSize ?? DEFAULT_POLL_PAGE_SIZE;
    const rows: ExecutionRecord[] = [];
    let cursor = afterSeq;
    for (;;) {
      const page = await this.config.store.listExecutionsChangedAfter(filter, cursor, pageSize);
      rows.push(...page);
      if (page.length < pageSize) return rows;
      cursor = page.at(-1)!.changeSeq;
    }
  }

  private openChannel(onMessage: (payload: string) => void): { settled: Promise<void>; readonly live: boolean; close(): void } {
    const backend = this.config.notifications;
    // Without raw channels (a user's spec-only backend) there is no list channel: poll only.
    if (!hasChannelListener(backend)) return { settled: Promise.resolve(), live: false, close() {} };
    let live = false;
    let closed = false;
    let unlisten: (() => void) | undefined;
    const settled = backend.listen(EXECUTIONS_CHANNEL, onMessage).then(
      (stop) => {
        if (closed) return stop();
        unlisten = stop;
        live = true;
      },
      () => {}, // Backend down: this feed polls.
    );
    return {
      settled,
      get live() {
        return live;
      },
      close() {
        closed = true;
        unlisten?.();
      },
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

function parseMessage(payload: string): { execution_id: string; state: ExecutionState } | undefined {
  try {
    const message = JSON.parse(payload) as { execution_id?: unknown; state?: unknown };
    if (typeof message?.execution_id !== 'string' || typeof message.state !== 'string') return undefined;
    return message as { execution_id: string; state: ExecutionState };
  } catch {
    return undefined; // A foreign publisher on our channel must not break the feed.
  }
}

function isConnected(backend: NotificationBackend | undefined): boolean {
  return (backend as { connected?: boolean } | undefined)?.connected !== false;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
