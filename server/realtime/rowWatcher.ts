/**
 * One watcher per row per process: every subscription, `waitFor` and orchestrator waiting on the
 * same task or execution attaches to it, so a row watched a thousand times costs one channel
 * listener, one read per change (batched across rows by the change feed's loaders) and one poll.
 *
 *   first attach ─► listen ─► confirmed (or timed out) ─► read ─► offer the row to every feed
 *        ▲                                                  ▲            │
 *        │        attach, message or poll tick ─────────────┘            │ terminal / not found
 *        └── last detach: stop listening and polling ◄───────────────────┘ (feeds end, watcher too)
 *
 * Every read is offered to every attached feed, and each feed keeps only versions newer than the
 * last it delivered: a feed that just attached takes the row as its snapshot, the others drop it.
 * The row object handed out is shared: one read is one object for every feed, which lets GraphQL
 * execute a selection once per new version for all of them (see http/useMultiplexedSubscriptions.ts
 * and http/rowSubscriptions.ts).
 */
import { NotFoundError } from '../errors.js';
import type { ChannelWatch } from './channelWatch.js';
import type { PollOptions } from './changeFeed.js';
import type { EngineBackend } from '../notifications/engineBackend.js';
import { PushIterator } from './pushIterator.js';
import { SmallSet } from '../support/smallSet.js';
import type { TimerWheel } from '../support/timerWheel.js';

/** What a failed read of the store stands for: a tick with nothing learned. */
export const MISSED: unique symbol = Symbol('missed read');

/** What a poll learns when the row is still at the version the watcher holds. */
export const UNCHANGED: unique symbol = Symbol('unchanged');

export interface Versioned {
  version: number;
}

/** What a watcher is told after asking for its row: the row, undefined (it is gone), UNCHANGED (a poll), or MISSED (the store failed). */
export type RowAnswer<T> = T | undefined | typeof UNCHANGED | typeof MISSED;

/** A kind of row (tasks, executions), as watchers read and listen to it: one object per kind, shared by every watcher. */
export interface RowSource<T extends Versioned> {
  channel(id: string): string;
  read(id: string): Promise<T | undefined>;
  /**
   * A poll: answers the watcher (`answer`) with its row if newer than the version it holds,
   * UNCHANGED if not, undefined if the row is gone. Batched across watchers, and next to free
   * when nothing changed.
   */
  poll(watcher: RowWatcher<T>): void;
  isTerminal(row: T): boolean;
  notFound(id: string): string;
}

/** What watchers need from the feed that owns them: one object, shared by every watcher. */
export interface RowWatcherHost {
  poll: PollOptions;
  listenConfirmTimeoutMs: number;
  /** Whether polling may relax to a safety net while the channel is live. */
  pushReachesAllWriters: boolean;
  notifications: EngineBackend | undefined;
  openChannel(channel: string, onMessage: (payload?: string) => void): ChannelWatch;
  /** Every watcher's deadline (the channel's confirmation, then each poll tick). */
  timers: TimerWheel<RowWatcher<any>>;
  /** Called once a watcher has ended (no consumer left, terminal row, not found). */
  ended(watcher: RowWatcher<any>): void;
}

/**
 * What attaches to a watcher: offered every read (each keeps only versions newer than its own
 * last), told when the row is gone. A feed (below) is one; a graphql-ws subscription that sends
 * rows itself is another (http/rowSubscriptions.ts).
 */
export interface RowConsumer<T extends Versioned> {
  offer(row: T, terminal: boolean): void;
  fail(error: unknown): void;
}

/**
 * A state machine rather than an async loop, and methods rather than closures: a process may
 * hold one per watched row, ten thousand at a time, so what each holds is kept to its fields,
 * a channel listen and a slot on the host's timer wheel, and an idle one allocates next to
 * nothing (its polls are batched). Its one deadline is the channel's confirmation first, then
 * each poll tick.
 */
export class RowWatcher<T extends Versioned> {
  private readonly consumers = new SmallSet<RowConsumer<T>>();
  /**
   * The newest version read. Only its number: the row itself goes once its consumers have taken
   * it, which is most of what a watched row would otherwise hold (and what was executed for it).
   */
  version = 0;
  private changed = false;
  private reading = false;
  /** Whether the read in flight was asked for (a message, an attach, a nudge), not a poll tick. */
  private readByMessage = false;
  /** A read was asked for and failed: the retry reads the whole row (a consumer may be waiting for its snapshot). */
  private owed = false;
  /** Until the channel is confirmed (or its wait timed out), nudges only mark the row changed: the first read follows anyway. */
  private confirming = true;
  private stopped = false;
  private intervalMs: number;
  /** Its slot on the host's timer wheel (0: none). */
  wheelSlot = 0;
  private readonly channel: ChannelWatch;

  constructor(
    private readonly host: RowWatcherHost,
    private readonly source: RowSource<T>,
    readonly id: string,
    /** Its row's channel, which is also its key among the host's watchers. */
    readonly channelKey: string,
  ) {
    this.intervalMs = host.poll.pollMinIntervalMs;
    this.channel = host.openChannel(channelKey, this.nudge);
    // Read only once the channel is confirmed (or the wait timed out), so no change falls between.
    host.timers.schedule(this, host.listenConfirmTimeoutMs);
    // The channel tells `nudge` when it settles (see ListenChannelOptions.settleIsMessage); one
    // without a backend has settled already.
    if (this.channel.hasSettled) queueMicrotask(() => this.confirmed());
  }

  get attached(): number {
    return this.consumers.size;
  }

  /** Re-read as soon as possible (a message, a consumer that wants its snapshot, the end of an outage). */
  readonly nudge = (payload?: string): void => {
    if (this.confirming) {
      this.changed = true;
      // The channel settled (confirmed, or refused and retrying): the first read may go.
      if (this.channel.hasSettled) this.confirmed();
      return;
    }
    // The channel's own word (an empty payload) once the first read went: a confirmation means
    // messages may have been missed, a refusal nothing new (polling goes on).
    if (payload === '' && !this.channel.live) return;
    this.changed = true;
    if (this.reading || this.stopped) return; // a read in flight re-reads when it is done
    this.read();
  };

  attach(consumer: RowConsumer<T>): void {
    this.consumers.add(consumer);
    // Whatever the watcher last read may be a moment old: the new consumer's snapshot comes from a fresh read.
    this.nudge();
  }

  detach(consumer: RowConsumer<T>): void {
    if (!this.consumers.delete(consumer) || this.consumers.size > 0) return;
    this.end();
  }

  /** Its deadline came: the channel's confirmation is given up on (polling starts), or a poll tick. */
  onDeadline(): void {
    if (this.confirming) this.confirmed();
    else if (!this.reading && !this.stopped) this.read();
  }

  private confirmed(): void {
    if (!this.confirming || this.stopped) return;
    this.confirming = false;
    this.read();
  }

  private end(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.host.timers.cancel(this);
    this.channel.close();
    this.host.ended(this);
  }

  /** A read of the whole row when something asked for it; on a poll tick of a row already read, only whether it moved on. */
  private read(): void {
    this.reading = true;
    this.readByMessage = this.changed || this.owed || this.version === 0;
    this.changed = false;
    this.owed = false;
    if (!this.readByMessage) return this.source.poll(this);
    this.source.read(this.id).then(
      (row) => this.answer(row),
      () => this.answer(MISSED),
    );
  }

  /** What the store said about the row (see RowSource.poll). */
  answer(next: RowAnswer<T>): void {
    this.reading = false;
    if (this.stopped) return;
    const { poll } = this.host;
    if (next === UNCHANGED) return this.polled(false);
    if (next === MISSED) {
      // The store may be briefly unreachable: a missed tick, retried with backoff, never the end of a wait.
      this.owed ||= this.readByMessage;
      this.intervalMs = Math.min(poll.pollMaxIntervalMs, this.intervalMs * poll.pollBackoffFactor);
      return this.schedule(this.intervalMs);
    }
    if (!next) {
      const error = new NotFoundError(this.source.notFound(this.id));
      this.end();
      for (const consumer of this.consumers.values()) consumer.fail(error);
      return;
    }
    const advanced = next.version > this.version;
    if (advanced) this.version = next.version;
    // One object per read for every consumer: multiplexed subscriptions key their results on it.
    const terminal = this.source.isTerminal(next);
    if (terminal) this.end();
    for (const consumer of this.consumers.values()) consumer.offer(next, terminal);
    if (terminal) return;
    this.polled(advanced);
  }

  /** After a read: polls back off while nothing changes, and relax to the safety net while push reaches every writer. */
  private polled(advanced: boolean): void {
    const { poll } = this.host;
    if (advanced) this.intervalMs = poll.pollMinIntervalMs;
    else if (!this.readByMessage) this.intervalMs = Math.min(poll.pollMaxIntervalMs, this.intervalMs * poll.pollBackoffFactor);
    const relaxed = this.channel.live && this.host.pushReachesAllWriters && (this.host.notifications?.connected ?? false);
    this.schedule(relaxed ? poll.pollMaxIntervalMs : this.intervalMs);
  }

  /** The next read: at once when something changed during the last, else after `ms`. */
  private schedule(ms: number): void {
    if (this.changed) return this.read();
    this.host.timers.schedule(this, ms);
  }
}

/** Where a consumer attaches to (and detaches from) its row's watcher. */
export interface RowAttachment<T extends Versioned> {
  attach(consumer: RowConsumer<T>): void;
  detach(consumer: RowConsumer<T>): void;
}

/**
 * One consumer's view of a shared row: the versions newer than `since`, ending after the terminal
 * one. A consumer slower than the row's changes gets the newest version waiting, not every one
 * (as a re-read would): at most one row is held per feed.
 */
export class RowFeed<T extends Versioned> extends PushIterator<T> implements RowConsumer<T> {
  private seen: number;

  constructor(
    private readonly watcher: RowAttachment<T>,
    since: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    super(true);
    this.seen = since ?? 0;
    if (signal?.aborted) {
      void this.return();
      return;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    watcher.attach(this);
  }

  private readonly onAbort = (): void => void this.return();

  protected override onClose(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.watcher.detach(this);
  }

  /** A version read by the watcher; kept only if newer than the last this feed took. */
  offer(row: T, terminal: boolean): void {
    if (this.finishing) return;
    if (row.version > this.seen) {
      this.seen = row.version;
      this.push(row);
    }
    if (terminal) this.finish();
  }

  fail(error: unknown): void {
    this.finish({ error });
  }
}
