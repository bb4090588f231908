/**
 * The one change feed: every wait in the engine and every GraphQL subscription reads rows through it.
 *
 *   subscribe ─► confirmed (or timed out) ─► read snapshot ─► emit unless `since` has it
 *        ▲                                                       │
 *        │   message or poll tick ─► re-read ─► emit if version advanced
 *        └───────────────────────────────────────────────────────┘ until the terminal row is emitted
 *
 * Notifications only say "look again": the row read from the store is the truth, so a lost,
 * duplicated or reordered message costs latency at worst. Poll ticks back off from
 * `pollMinIntervalMs` to `pollMaxIntervalMs` while nothing changes; when push reaches this
 * process from every writer, polling drops to a safety net at the max interval.
 */
import DataLoader from 'dataloader';
import { NotFoundError } from '../errors.js';
import {
  executionChannel,
  hasChannelListener,
  taskChannel,
  type NotificationBackend,
} from '../notifications/backend.js';
import type { Store } from '../store/store.js';
import { delay, delayOrWake } from '../support/timers.js';
import { isConnected, listenChannel, type ChannelWatch } from './channelWatch.js';
import {
  TERMINAL_EXECUTION_STATES,
  TERMINAL_TASK_STATES,
  type ExecutionRecord,
  type TaskRecord,
} from '../engine/types.js';

/** What a failed read of the store stands for: a tick with nothing learned. */
const MISSED: unique symbol = Symbol('missed read');

export const DEFAULT_POLL_MIN_INTERVAL_MS = 100;
export const DEFAULT_POLL_MAX_INTERVAL_MS = 5000;
export const DEFAULT_POLL_BACKOFF_FACTOR = 2;
/** How long a feed waits for its subscription to be confirmed before it starts by polling. */
export const DEFAULT_LISTEN_CONFIRM_TIMEOUT_MS = 1000;

export interface PollOptions {
  pollMinIntervalMs: number;
  pollMaxIntervalMs: number;
  pollBackoffFactor: number;
}

/** `options` with the defaults filled in. */
export function pollOptionsOf(options: Partial<PollOptions>): PollOptions {
  return {
    pollMinIntervalMs: options.pollMinIntervalMs ?? DEFAULT_POLL_MIN_INTERVAL_MS,
    pollMaxIntervalMs: options.pollMaxIntervalMs ?? DEFAULT_POLL_MAX_INTERVAL_MS,
    pollBackoffFactor: options.pollBackoffFactor ?? DEFAULT_POLL_BACKOFF_FACTOR,
  };
}

export interface ChangeFeedConfig extends Partial<PollOptions> {
  store: Store;
  notifications?: NotificationBackend;
  /**
   * True when every process that writes to the store publishes to `notifications` (a shared
   * Redis/Postgres backend, or an in-process one over the single-process embedded store).
   * Only then may polling relax to a safety net.
   */
  pushReachesAllWriters: boolean;
  listenConfirmTimeoutMs?: number;
}

export interface WatchOptions {
  /** Version the caller already has: rows at or below it are not emitted. */
  since?: number;
  /** Ends the feed quietly when aborted. */
  signal?: AbortSignal;
}

interface Versioned {
  version: number;
}

interface FeedSource<T extends Versioned> {
  channel: string;
  /** Fallback for backends without `listen`: the spec's subscribe method for this row. */
  subscribe: (backend: NotificationBackend) => AsyncIterable<unknown>;
  read: () => Promise<T | undefined>;
  isTerminal: (row: T) => boolean;
  notFound: string;
}

export class ChangeFeed {
  private readonly poll: PollOptions;
  private readonly tasks: DataLoader<string, TaskRecord | undefined>;
  private readonly executions: DataLoader<string, ExecutionRecord | undefined>;
  /** Open feeds, nudged together when the backend comes back after an outage. */
  private readonly openFeeds = new Set<() => void>();

  constructor(private readonly config: ChangeFeedConfig) {
    this.poll = pollOptionsOf(config);
    // Reads from all feeds due in one turn of the event loop go out as one query: a thousand
    // waits on a thousand children cost one SELECT per tick, not a thousand.
    const batch = { cache: false, batchScheduleFn: (run: () => void) => setImmediate(run) };
    this.tasks = new DataLoader(async (ids) => byId(ids, await config.store.getTasks(ids)), batch);
    this.executions = new DataLoader(async (ids) => byId(ids, await config.store.getExecutions(ids)), batch);
  }

  /** Makes every open feed re-read now (messages may have been lost during a backend outage). */
  nudgeAll(): void {
    for (const nudge of this.openFeeds) nudge();
  }

  /** Reads one task through the batching loader. */
  readTask(id: string): Promise<TaskRecord | undefined> {
    return this.tasks.load(id);
  }

  readExecution(id: string): Promise<ExecutionRecord | undefined> {
    return this.executions.load(id);
  }

  /** The task's snapshot, then each newer version, ending after a terminal state. */
  watchTask(id: string, options: WatchOptions = {}): AsyncGenerator<TaskRecord> {
    return this.watch(
      {
        channel: taskChannel(id),
        subscribe: (backend) => backend.subscribeToTask(id),
        read: () => this.readTask(id),
        isTerminal: (task) => TERMINAL_TASK_STATES.has(task.state),
        notFound: `No task with id ${id}`,
      },
      options,
    );
  }

  /** The execution's snapshot, then each newer version, ending after a terminal state. */
  watchExecution(id: string, options: WatchOptions = {}): AsyncGenerator<ExecutionRecord> {
    return this.watch(
      {
        channel: executionChannel(id),
        subscribe: (backend) => backend.subscribeToExecution(id),
        read: () => this.readExecution(id),
        isTerminal: (execution) => TERMINAL_EXECUTION_STATES.has(execution.state),
        notFound: `No execution with id ${id}`,
      },
      options,
    );
  }

  /** Resolves with the task once it is terminal; rejects with the signal's reason when aborted. */
  async waitForTask(id: string, signal?: AbortSignal): Promise<TaskRecord> {
    return lastOf(this.watchTask(id, { signal }), signal);
  }

  async waitForExecution(id: string, signal?: AbortSignal): Promise<ExecutionRecord> {
    return lastOf(this.watchExecution(id, { signal }), signal);
  }

  private async *watch<T extends Versioned>(source: FeedSource<T>, options: WatchOptions): AsyncGenerator<T> {
    const { signal } = options;
    let changed = false;
    let wake: (() => void) | undefined;
    const nudge = () => {
      changed = true;
      wake?.();
    };
    const channel = this.openChannel(source, nudge);
    this.openFeeds.add(nudge);
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      await Promise.race([channel.settled, delay(this.config.listenConfirmTimeoutMs ?? DEFAULT_LISTEN_CONFIRM_TIMEOUT_MS)]);
      if (signal?.aborted) return;
      changed = false;
      let first: T | undefined | typeof MISSED = await source.read().catch(() => MISSED);
      // The store may be briefly unreachable: a failed read is a missed tick, retried with backoff,
      // never the end of a wait (a store outage costs latency, not a workflow).
      for (let retryMs = this.poll.pollMinIntervalMs; first === MISSED; retryMs = Math.min(this.poll.pollMaxIntervalMs, retryMs * 2)) {
        await delayOrWake(retryMs, (resolve) => (wake = resolve));
        wake = undefined;
        if (signal?.aborted) return;
        first = await source.read().catch(() => MISSED);
      }
      if (!first) throw new NotFoundError(source.notFound);
      let row: T = first as T;
      let seen = options.since ?? 0;
      if (row.version > seen) {
        seen = row.version;
        yield row;
      }
      let intervalMs = this.poll.pollMinIntervalMs;
      while (!source.isTerminal(row)) {
        // An abort that came while a read was in flight found no `wake` to call: check it here,
        // or the wait would sit out a whole poll interval (up to pollMaxIntervalMs).
        if (!changed && !signal?.aborted) {
          const relaxed = channel.live && this.config.pushReachesAllWriters && isConnected(this.config.notifications);
          const waitMs = relaxed ? this.poll.pollMaxIntervalMs : intervalMs;
          await delayOrWake(waitMs, (resolve) => (wake = resolve));
          wake = undefined;
        }
        if (signal?.aborted) return;
        const byMessage = changed;
        changed = false;
        const next: T | undefined | typeof MISSED = await source.read().catch(() => MISSED);
        if (next === MISSED) {
          intervalMs = Math.min(this.poll.pollMaxIntervalMs, intervalMs * this.poll.pollBackoffFactor);
          continue;
        }
        if (!next) throw new NotFoundError(source.notFound);
        row = next;
        if (row.version > seen) {
          seen = row.version;
          intervalMs = this.poll.pollMinIntervalMs;
          yield row;
        } else if (!byMessage) {
          intervalMs = Math.min(this.poll.pollMaxIntervalMs, intervalMs * this.poll.pollBackoffFactor);
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.openFeeds.delete(nudge);
      channel.close();
    }
  }

  private openChannel<T extends Versioned>(source: FeedSource<T>, onMessage: () => void): ChannelWatch {
    const backend = this.config.notifications;
    if (!backend) return { settled: Promise.resolve(), live: false, close() {} };
    if (hasChannelListener(backend)) {
      // Confirmed late, anything published before may have been missed: re-read as on a message.
      return listenChannel(backend, source.channel, onMessage, { retryMs: this.poll.pollMaxIntervalMs, onConfirmed: onMessage });
    }
    // A user's backend with only the spec's methods: no confirmation, so poll as if unconfirmed
    // until its first message proves the stream works.
    let live = false;
    let closed = false;
    let iterator: AsyncIterator<unknown>;
    try {
      iterator = source.subscribe(backend)[Symbol.asyncIterator]();
    } catch {
      // A backend that fails to subscribe costs push, never the wait: it polls.
      return { settled: Promise.resolve(), live: false, close() {} };
    }
    void (async () => {
      try {
        for (;;) {
          const next = await iterator.next();
          if (next.done || closed) return;
          live = true;
          onMessage();
        }
      } catch {
        live = false;
      }
    })();
    return {
      settled: Promise.resolve(),
      get live() {
        return live;
      },
      close() {
        closed = true;
        Promise.resolve(iterator.return?.()).catch(() => {});
      },
    };
  }
}

async function lastOf<T>(feed: AsyncGenerator<T>, signal?: AbortSignal): Promise<T> {
  let last: T | undefined;
  for await (const row of feed) last = row;
  if (signal?.aborted) throw signal.reason;
  if (last === undefined) throw new Error('change feed ended without a row'); // Unreachable: the snapshot is always emitted without `since`.
  return last;
}

function byId<T extends { id: string }>(ids: readonly string[], rows: T[]): Array<T | undefined> {
  const map = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => map.get(id));
}
