/**
 * The one change feed: every wait in the engine and every GraphQL subscription reads rows through it.
 *
 *   watch ─► the row's shared watcher (rowWatcher.ts) ─► snapshot unless `since` has it
 *                 │  message, attach or poll tick ─► one re-read ─► each feed emits if its version advanced
 *                 └─ until the terminal row is emitted, or the last feed on the row detaches
 *
 * Notifications only say "look again": the row read from the store is the truth, so a lost,
 * duplicated or reordered message costs latency at worst. Poll ticks back off from
 * `pollMinIntervalMs` to `pollMaxIntervalMs` while nothing changes; when push reaches this
 * process from every writer, polling drops to a safety net at the max interval. However many
 * subscriptions and waits watch a row, the process holds one listener, one poll and one read per
 * change for it. */
import { executionChannel, taskChannel } from '../notifications/channels.js';
import type { EngineBackend } from '../notifications/engineBackend.js';
import type { Store } from '../store/store.js';
import { TimerWheel } from '../support/timerWheel.js';
import { listenChannel, type ChannelWatch, type ListenChannelOptions } from './channelWatch.js';
import { RowFeed, RowWatcher, type RowAttachment, type RowConsumer, type RowSource, type RowWatcherHost, type Versioned, MISSED, UNCHANGED } from './rowWatcher.js';
import type { KnownVersion, NewerRows } from '../store/rows.js';
import {
  TERMINAL_EXECUTION_STATES,
  TERMINAL_TASK_STATES,
  type ExecutionRecord,
  type TaskRecord,
} from '../domain/types.js';

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
  notifications?: EngineBackend;
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

export class ChangeFeed {
  private readonly poll: PollOptions;
  private readonly tasks: ReadBatch<TaskRecord>;
  private readonly executions: ReadBatch<ExecutionRecord>;
  /** Polls of watched rows, batched like reads: one statement per tick, which returns only the rows that moved on. */
  private readonly taskPolls: PollBatch<TaskRecord>;
  private readonly executionPolls: PollBatch<ExecutionRecord>;
  /** The one watcher of each watched row, by channel (nudged together when the backend comes back after an outage). */
  private readonly watchers = new Map<string, RowWatcher<any>>();
  /** What every watcher shares: settings, the channel to listen on, its own end. */
  private readonly host: RowWatcherHost;
  private readonly taskRows: RowSource<TaskRecord>;
  private readonly executionRows: RowSource<ExecutionRecord>;
  /** One options object for every watcher's listen. */
  private listenOptions: ListenChannelOptions | undefined;

  constructor(private readonly config: ChangeFeedConfig) {
    this.poll = pollOptionsOf(config);
    // Reads from all feeds due in one turn of the event loop go out as one query: a thousand
    // waits on a thousand children cost one SELECT per tick, not a thousand.
    this.tasks = new ReadBatch((ids) => config.store.getTasks(ids));
    this.executions = new ReadBatch((ids) => config.store.getExecutions(ids));
    this.taskPolls = new PollBatch((known) => config.store.getNewerTasks(known));
    this.executionPolls = new PollBatch((known) => config.store.getNewerExecutions(known));
    this.host = {
      poll: this.poll,
      listenConfirmTimeoutMs: config.listenConfirmTimeoutMs ?? DEFAULT_LISTEN_CONFIRM_TIMEOUT_MS,
      pushReachesAllWriters: config.pushReachesAllWriters,
      notifications: config.notifications,
      openChannel: (channel, onMessage) => this.openChannel(channel, onMessage),
      timers: new TimerWheel(WATCHER_TIMER_SLOT_MS),
      ended: (watcher) => {
        if (this.watchers.get(watcher.channelKey) === watcher) this.watchers.delete(watcher.channelKey);
      },
    };
    this.taskRows = {
      channel: taskChannel,
      read: (id) => this.readTask(id),
      poll: (watcher) => this.taskPolls.add(watcher),
      isTerminal: (task) => TERMINAL_TASK_STATES.has(task.state),
      notFound: (id) => `No task with id ${id}`,
    };
    this.executionRows = {
      channel: executionChannel,
      read: (id) => this.readExecution(id),
      poll: (watcher) => this.executionPolls.add(watcher),
      isTerminal: (execution) => TERMINAL_EXECUTION_STATES.has(execution.state),
      notFound: (id) => `No execution with id ${id}`,
    };
  }

  /** Makes every open feed re-read now (messages may have been lost during a backend outage). */
  nudgeAll(): void {
    for (const watcher of this.watchers.values()) watcher.nudge();
  }

  /** Reads one task through the batching loader. */
  readTask(id: string): Promise<TaskRecord | undefined> {
    return this.tasks.load(id);
  }

  readExecution(id: string): Promise<ExecutionRecord | undefined> {
    return this.executions.load(id);
  }

  /** The task's snapshot, then each newer version, ending after a terminal state. */
  watchTask(id: string, options: WatchOptions = {}): RowFeed<TaskRecord> {
    return this.watch(this.taskRows, id, options);
  }

  /** The execution's snapshot, then each newer version, ending after a terminal state. */
  watchExecution(id: string, options: WatchOptions = {}): RowFeed<ExecutionRecord> {
    return this.watch(this.executionRows, id, options);
  }

  /** Resolves with the task once it is terminal; rejects with the signal's reason when aborted. */
  async waitForTask(id: string, signal?: AbortSignal): Promise<TaskRecord> {
    return lastOf(this.watchTask(id, { signal }), signal);
  }

  async waitForExecution(id: string, signal?: AbortSignal): Promise<ExecutionRecord> {
    return lastOf(this.watchExecution(id, { signal }), signal);
  }

  /** Rows watched now (one watcher per row, however many feeds are attached to it). */
  get watchedRows(): number {
    return this.watchers.size;
  }

  /** A feed on the row's shared watcher, started on the first attach and stopped after the last detach. */
  private watch<T extends Versioned>(source: RowSource<T>, id: string, options: WatchOptions): RowFeed<T> {
    return new RowFeed(this.attachment(source, id), options.since, options.signal);
  }

  /**
   * Attaches a consumer of its own (one that keeps its own `since`) to the task's shared watcher,
   * which offers it the row's current version, then every newer one; detach it from the
   * watcher returned.
   */
  attachToTask(id: string, consumer: RowConsumer<TaskRecord>): RowWatcher<TaskRecord> {
    return this.attachTo(this.taskRows, id, consumer);
  }

  attachToExecution(id: string, consumer: RowConsumer<ExecutionRecord>): RowWatcher<ExecutionRecord> {
    return this.attachTo(this.executionRows, id, consumer);
  }

  /** Where a feed attaches: the row's watcher at the feed's first attach. */
  private attachment<T extends Versioned>(source: RowSource<T>, id: string): RowAttachment<T> {
    let bound: RowWatcher<T> | undefined;
    return {
      attach: (consumer) => void (bound = this.attachTo(source, id, consumer)),
      detach: (consumer) => bound?.detach(consumer),
    };
  }

  /** Attaches to the row's watcher, creating it on the first attach; the watcher stops after the last detach. */
  private attachTo<T extends Versioned>(source: RowSource<T>, id: string, consumer: RowConsumer<T>): RowWatcher<T> {
    const key = source.channel(id); // one channel per kind and id
    let watcher = this.watchers.get(key) as RowWatcher<T> | undefined;
    if (!watcher) this.watchers.set(key, (watcher = new RowWatcher(this.host, source, id, key)));
    watcher.attach(consumer);
    return watcher;
  }

  private openChannel(channel: string, onMessage: (payload?: string) => void): ChannelWatch {
    const backend = this.config.notifications;
    if (!backend) return { settled: Promise.resolve(), hasSettled: true, live: false, close() {} };
    // Confirmed late, anything published before may have been missed: re-read as on a message.
    return listenChannel(backend, channel, onMessage, (this.listenOptions ??= { retryMs: this.poll.pollMaxIntervalMs, settleIsMessage: true }));
  }
}

async function lastOf<T>(feed: AsyncIterable<T>, signal?: AbortSignal): Promise<T> {
  let last: T | undefined;
  for await (const row of feed) last = row;
  if (signal?.aborted) throw signal.reason;
  if (last === undefined) throw new Error('change feed ended without a row'); // Unreachable: the snapshot is always emitted without `since`.
  return last;
}

/**
 * The polls due within a few milliseconds of each other, asked as one statement that returns only the rows
 * that moved on (and the ids gone). Watchers are answered by a method call rather than a promise
 * each: ten thousand idle subscriptions poll without allocating ten thousand of anything per tick
 * beyond the statement's two arrays.
 */
/** How long a poll waits for others to join its statement: watchers started together tick a few ms apart. */
const POLL_GATHER_MS = 10;
/** Watchers' deadlines fire at most this late (rounded up to a slot of the shared timer wheel). */
const WATCHER_TIMER_SLOT_MS = 5;

class PollBatch<T extends Versioned & { id: string }> {
  private due: Array<RowWatcher<T>> = [];

  constructor(private readonly fetch: (known: readonly KnownVersion[]) => Promise<NewerRows<T>>) {}

  add(watcher: RowWatcher<T>): void {
    if (this.due.push(watcher) === 1) setTimeout(flushPolls, POLL_GATHER_MS, this);
  }

  async flush(): Promise<void> {
    const due = this.due;
    this.due = [];
    let answer: NewerRows<T>;
    try {
      answer = await this.fetch(due);
    } catch {
      for (const watcher of due) watcher.answer(MISSED);
      return;
    }
    const newer = new Map(answer.newer.map((row) => [row.id, row]));
    const gone = new Set(answer.missing);
    for (const watcher of due) watcher.answer(newer.get(watcher.id) ?? (gone.has(watcher.id) ? undefined : UNCHANGED));
  }
}

function flushPolls(batch: PollBatch<any>): void {
  void batch.flush();
}

/**
 * Reads by id asked for in one turn of the event loop, as one query (each id once), holding
 * nothing once answered. (DataLoader batches the same way but keeps its last batch, its ids and
 * promises and so every row it read, until the next load: after a burst, every watched row.)
 */
class ReadBatch<T extends { id: string }> {
  private waiting = new Map<string, Array<{ resolve: (row: T | undefined) => void; reject: (error: unknown) => void }>>();

  constructor(private readonly fetch: (ids: string[]) => Promise<T[]>) {}

  load(id: string): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) setImmediate(flushReads, this);
      const callers = this.waiting.get(id);
      if (callers) callers.push({ resolve, reject });
      else this.waiting.set(id, [{ resolve, reject }]);
    });
  }

  async flush(): Promise<void> {
    const waiting = this.waiting;
    this.waiting = new Map();
    let rows: T[];
    try {
      rows = await this.fetch([...waiting.keys()]);
    } catch (error) {
      for (const callers of waiting.values()) for (const caller of callers) caller.reject(error);
      return;
    }
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const [id, callers] of waiting) for (const caller of callers) caller.resolve(byId.get(id));
  }
}

function flushReads(batch: ReadBatch<any>): void {
  void batch.flush();
}
