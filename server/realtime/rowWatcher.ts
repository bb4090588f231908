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
 * The row object handed out is shared: a version read once is one object for every feed, which
 * lets GraphQL execute a selection once per version (see multiplexedSubscribe.ts).
 */
import { NotFoundError } from '../errors.js';
import { delayOrWake } from '../support/timers.js';
import type { ChannelWatch } from './channelWatch.js';
import type { PollOptions } from './changeFeed.js';
import type { EngineBackend } from '../notifications/engineBackend.js';
import { PushIterator } from './pushIterator.js';

/** What a failed read of the store stands for: a tick with nothing learned. */
const MISSED: unique symbol = Symbol('missed read');

export interface Versioned {
  version: number;
}

/** One row, as the watcher reads and listens to it. */
export interface RowSource<T extends Versioned> {
  read: () => Promise<T | undefined>;
  isTerminal: (row: T) => boolean;
  notFound: string;
}

/** What a watcher needs from the feed that owns it. */
export interface RowWatcherHost {
  poll: PollOptions;
  listenConfirmTimeoutMs: number;
  /** Whether polling may relax to a safety net while the channel is live. */
  pushReachesAllWriters: boolean;
  notifications: EngineBackend | undefined;
  openChannel(onMessage: () => void): ChannelWatch;
  /** Called once the watcher has ended (no feed left, terminal row, not found). */
  onEnded(): void;
  /** Registered while running, so an outage's end can make every watcher re-read. */
  track(nudge: () => void): () => void;
}

export class RowWatcher<T extends Versioned> {
  private readonly feeds = new Set<RowFeed<T>>();
  private changed = false;
  private wake: (() => void) | undefined;
  private stopped = false;
  private latest: T | undefined;
  /** While the channel is being confirmed, nudges only mark the row changed: the first read follows anyway. */
  private confirming = false;

  constructor(
    private readonly source: RowSource<T>,
    private readonly host: RowWatcherHost,
  ) {
    void this.run();
  }

  get attached(): number {
    return this.feeds.size;
  }

  /** Re-read as soon as possible (a message, a feed that wants its snapshot, the end of an outage). */
  readonly nudge = (): void => {
    this.changed = true;
    if (!this.confirming) this.wake?.();
  };

  attach(feed: RowFeed<T>): void {
    this.feeds.add(feed);
    // Whatever the watcher holds may be a moment old: the new feed's snapshot comes from a fresh read.
    this.nudge();
  }

  detach(feed: RowFeed<T>): void {
    if (!this.feeds.delete(feed) || this.feeds.size > 0) return;
    this.end();
  }

  private end(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    this.host.onEnded();
  }

  private async wait(ms: number): Promise<void> {
    if (this.changed || this.stopped) return;
    await delayOrWake(ms, (resolve) => (this.wake = resolve));
    this.wake = undefined;
  }

  private async run(): Promise<void> {
    const { poll } = this.host;
    const channel = this.host.openChannel(this.nudge);
    const untrack = this.host.track(this.nudge);
    try {
      // Read only once the channel is confirmed (or the wait timed out), so no change falls between.
      // Nudges meanwhile (attaches, messages) are all covered by that first read.
      this.confirming = true;
      await Promise.race([channel.settled, delayOrWake(this.host.listenConfirmTimeoutMs, (resolve) => (this.wake = resolve))]);
      this.confirming = false;
      this.wake?.(); // clears the confirmation timer when the channel won the race
      this.wake = undefined;
      let intervalMs = poll.pollMinIntervalMs;
      while (!this.stopped) {
        const byMessage = this.changed;
        this.changed = false;
        const next: T | undefined | typeof MISSED = await this.source.read().catch(() => MISSED);
        if (this.stopped) return;
        if (next === MISSED) {
          // The store may be briefly unreachable: a missed tick, retried with backoff, never the end of a wait.
          intervalMs = Math.min(poll.pollMaxIntervalMs, intervalMs * poll.pollBackoffFactor);
          await this.wait(intervalMs);
          continue;
        }
        if (!next) {
          const error = new NotFoundError(this.source.notFound);
          this.end();
          for (const feed of [...this.feeds]) feed.fail(error);
          return;
        }
        const advanced = !this.latest || next.version > this.latest.version;
        // Same version, same object: feeds multiplexed on the row's identity keep sharing it.
        if (advanced) this.latest = next;
        const row = this.latest!;
        const terminal = this.source.isTerminal(row);
        if (terminal) this.end();
        for (const feed of [...this.feeds]) feed.offer(row, terminal);
        if (terminal) return;
        if (advanced) intervalMs = poll.pollMinIntervalMs;
        else if (!byMessage) intervalMs = Math.min(poll.pollMaxIntervalMs, intervalMs * poll.pollBackoffFactor);
        const relaxed = channel.live && this.host.pushReachesAllWriters && (this.host.notifications?.connected ?? false);
        await this.wait(relaxed ? poll.pollMaxIntervalMs : intervalMs);
      }
    } finally {
      untrack();
      channel.close();
      this.end();
    }
  }
}

/**
 * One consumer's view of a shared row: the versions newer than `since`, ending after the terminal
 * one. A consumer slower than the row's changes gets the newest version waiting, not every one
 * (as a re-read would): at most one row is held per feed.
 */
export class RowFeed<T extends Versioned> extends PushIterator<T> {
  private seen: number;

  constructor(
    private readonly watcher: { attach(feed: RowFeed<T>): void; detach(feed: RowFeed<T>): void },
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
