/**
 * The many-row counterpart of the change feed: every row of a set (executions matching a filter,
 * the tasks of one execution) whose row changes, found through the global change sequence.
 *
 *   listen on the set's channels ─► confirmed (or timed out) ─► cursor = the set's start
 *        │                                                            │
 *        │  message naming a row: re-read that row ───────────────────┤
 *        │  poll tick: rows with change_seq > cursor (filter in SQL) ─┤
 *        │                                                            ▼
 *        └──────── hand the round to every follower ─► `final`? ─► end
 *
 * One such feed runs per set (a filter, an execution) in a process, shared by every subscription
 * to it (see SharedRowSets); each subscription reads its own `since` window or snapshot from the
 * store first and sends a row only when its version is newer than the one it last sent.
 *
 * Same rules as the per-row feed: messages are hints and the store is the truth, so a lost
 * message costs one poll interval; with push from every writer, polling relaxes to a safety net.
 * A row that leaves the view (`inView` turns false) is emitted once more, then forgotten.
 *
 * Change sequence numbers are taken when a row is written but become visible at commit, so a
 * slow transaction can commit a number below one already read. The poll cursor therefore lags
 * one tick behind the highest number seen: each poll re-reads the previous tick's window (the
 * version check drops repeats) and catches such late commits.
 */
import type { EngineBackend } from '../notifications/engineBackend.js';
import { DEFAULT_LISTEN_CONFIRM_TIMEOUT_MS, pollOptionsOf, type PollOptions } from './changeFeed.js';
import { delayOrWake, settleWithin } from '../support/timers.js';
import { listenChannel, type ChannelWatch } from './channelWatch.js';

/** Rows whose last emitted version one watch remembers (oldest forgotten first). */
export const DEFAULT_MAX_TRACKED_ROWS = 10_000;
/** Rows per poll query; a full page is followed by the next one at once. */
export const DEFAULT_POLL_PAGE_SIZE = 500;

export interface RowSetFeedConfig extends Partial<PollOptions> {
  notifications?: EngineBackend;
  /** Push may relax polling only when every writer publishes where we listen (see ChangeFeedConfig). */
  pushReachesAllWriters: boolean;
  listenConfirmTimeoutMs?: number;
  maxTrackedRows?: number;
  pollPageSize?: number;
}

/** What the feed needs of a row: an id, a per-row version and its place in the change sequence. */
export interface SequencedRow {
  id: string;
  version: number;
  changeSeq: string;
}

/** A channel the set listens on. */
export interface RowSetChannel {
  channel: string;
  /**
   * The id of the row a message asks to re-read, or undefined to ignore it; `tracked` says whether
   * a row has been emitted (and is still in view). Without it a message only runs a round now.
   */
  rowOf?: (payload: string, tracked: (id: string) => boolean) => string | undefined;
}

/** One set of rows, as a watch sees it. */
export interface RowSet<T extends SequencedRow> {
  channels: RowSetChannel[];
  /** One row by id (pass a batching loader: concurrent reads then share a query). */
  read(id: string): Promise<T | undefined>;
  /** Rows of the set written after `afterSeq`, oldest write first, at most `limit`. */
  changedAfter(afterSeq: string, limit: number): Promise<T[]>;
  /** Whether a row read belongs in the view now. */
  inView(row: T): boolean;
  /** Where the shared feed's polls start; read once its channels are confirmed, so nothing later is missed. */
  start(): Promise<string>;
  /** True: a watch without `since` first emits every row of the set (a snapshot); false: only later changes. */
  snapshot: boolean;
  /**
   * Asked when the feed starts and after every round: when the set can change no more, every row
   * of it (each watch sends those after its `since` it has not sent at that version), and the
   * watches end; undefined to go on.
   */
  final?(): Promise<T[] | undefined>;
}

export interface RowSetWatchOptions {
  /** Change sequence to resume after (the highest `changeSeq` received). */
  since?: string;
  /** Ends the watch quietly when aborted. */
  signal?: AbortSignal;
}

/**
 * The shared row-set feeds of one kind (executions matching a filter, the tasks of one execution):
 * in this process, ONE feed per key (a filter, an execution) listens, reads and polls, however
 * many subscriptions watch it. Each subscription is a follower: it takes its own snapshot or
 * resume window from the store, then the feed's rounds, with its own record of what it has sent.
 *
 *   first follower of a key ─► feed: listen ─► confirmed ─► cursor = the set's start ─► rounds…
 *   follower n ─► (its `since`, or the snapshot) catch-up read ─► each round from its joining on
 *   last follower leaves ─► feed stops (channels left); `final` ends feed and followers together
 */
export class SharedRowSets<T extends SequencedRow> {
  private readonly feeds = new Map<string, RowSetFeed<T>>();

  constructor(private readonly config: RowSetFeedConfig) {}

  /** Feeds running in this process (one per key watched). */
  get size(): number {
    return this.feeds.size;
  }

  /**
   * Each change of a row in the set `key` names (built by `makeSet` when no feed of that key
   * runs), in write order within a round; ends only if the set's `final` says so.
   */
  watch(key: string, makeSet: () => RowSet<T>, options: RowSetWatchOptions = {}): AsyncGenerator<T> {
    // The feed is found (or started) when the watch is first read, so a watch never read holds none.
    return follow(() => this.feedOf(key, makeSet), this.config, options);
  }

  private feedOf(key: string, makeSet: () => RowSet<T>): RowSetFeed<T> {
    let feed = this.feeds.get(key);
    if (!feed) {
      const created = new RowSetFeed(this.config, makeSet(), () => {
        if (this.feeds.get(key) === created) this.feeds.delete(key);
      });
      this.feeds.set(key, (feed = created));
    }
    return feed;
  }
}

/** One round of a feed: the rows it read, whether the feed took each as news, and whether it was the last. */
interface Round<T> {
  rows: T[];
  news: boolean[];
  final: boolean;
}

/** What a feed hands a follower: rounds in order, then possibly a failure. */
class Inbox<T extends SequencedRow> {
  readonly rounds: Round<T>[] = [];
  rowsHeld = 0;
  /** The lowest change sequence among rounds dropped for a follower that fell behind. */
  droppedFrom: string | undefined;
  failure: { error: unknown } | undefined;
  ended = false;
  private wake: (() => void) | undefined;

  constructor(private readonly maxRowsHeld: number) {}

  push(round: Round<T>): void {
    this.rounds.push(round);
    this.rowsHeld += round.rows.length;
    if (this.rowsHeld > this.maxRowsHeld) this.dropBacklog();
    this.notify();
  }

  /**
   * A follower that does not read (a stalled socket) must not make the process hold every round
   * for it: its rounds go, and it re-reads their window from the store when it reads again.
   */
  private dropBacklog(): void {
    const kept = this.rounds.filter((round) => round.final);
    for (const round of this.rounds) {
      if (round.final) continue;
      for (const row of round.rows) if (this.droppedFrom === undefined || BigInt(row.changeSeq) < BigInt(this.droppedFrom)) this.droppedFrom = row.changeSeq;
    }
    this.rounds.length = 0;
    this.rounds.push(...kept);
    this.rowsHeld = kept.reduce((sum, round) => sum + round.rows.length, 0);
  }

  take(): Round<T> | undefined {
    const round = this.rounds.shift();
    if (round) this.rowsHeld -= round.rows.length;
    return round;
  }

  end(failure?: { error: unknown }): void {
    this.ended = true;
    this.failure = failure;
    this.notify();
  }

  wait(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** The one running feed of a key: listens on the set's channels, reads the rows named, polls, and hands each round to every follower. */
class RowSetFeed<T extends SequencedRow> {
  /** Settles once the channels are confirmed (or timed out) and the start read: the feed misses nothing after it. */
  readonly ready: Promise<void>;
  private readonly followers = new Set<Inbox<T>>();
  private readonly poll: PollOptions;
  private readonly seen = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private readonly channels: ChannelWatch[];
  private roundDue = false;
  private pollAt = 0;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly config: RowSetFeedConfig,
    readonly set: RowSet<T>,
    private readonly onStopped: () => void,
  ) {
    this.poll = pollOptionsOf(config);
    const backend = config.notifications;
    const tracked = (id: string) => this.seen.has(id);
    const onConfirmed = () => {
      // Confirmed late (after an outage): messages may have been missed, so poll now.
      this.pollAt = 0;
      this.wake?.();
    };
    this.channels = backend
      ? set.channels.map(({ channel, rowOf }) =>
          listenChannel(
            backend,
            channel,
            (payload) => {
              if (!rowOf) this.roundDue = true;
              else {
                const id = rowOf(payload, tracked);
                if (id === undefined) return;
                this.dirty.add(id);
              }
              this.wake?.();
            },
            { retryMs: this.poll.pollMaxIntervalMs, onConfirmed },
          ),
        )
      : [];
    let markReady!: () => void;
    this.ready = new Promise((resolve) => (markReady = resolve));
    void this.run(markReady);
  }

  join(inbox: Inbox<T>): void {
    this.followers.add(inbox);
  }

  leave(inbox: Inbox<T>): void {
    if (!this.followers.delete(inbox) || this.followers.size > 0) return;
    this.stop();
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.onStopped();
    for (const channel of this.channels) channel.close();
    this.wake?.();
  }

  private live(): boolean {
    return this.channels.length > 0 && this.channels.every((channel) => channel.live);
  }

  /** Whether `row` is news to the feed, recording it as emitted when it is (see the module comment). */
  private admit(row: T): boolean {
    return admitInto(this.seen, row, this.set.inView(row), this.config.maxTrackedRows ?? DEFAULT_MAX_TRACKED_ROWS);
  }

  private hand(rows: T[], final: boolean): boolean {
    rows.sort(byChangeSeq);
    const news = rows.map((row) => this.admit(row));
    if (rows.length > 0 || final) for (const inbox of this.followers) inbox.push({ rows, news, final });
    return news.includes(true);
  }

  private async run(markReady: () => void): Promise<void> {
    const { set, poll } = this;
    try {
      const confirmTimeoutMs = this.config.listenConfirmTimeoutMs ?? DEFAULT_LISTEN_CONFIRM_TIMEOUT_MS;
      await settleWithin(Promise.all(this.channels.map((channel) => channel.settled)), confirmTimeoutMs);
      if (this.stopped) return;
      let highest = await set.start();
      let pollFrom = highest;
      markReady();
      let intervalMs = poll.pollMinIntervalMs;
      this.pollAt = Date.now() + intervalMs;
      // A set that may already be complete (a finished execution's tasks) is asked at once.
      let finalDue = set.final !== undefined;
      for (;;) {
        if (!finalDue) {
          if (this.dirty.size === 0 && !this.roundDue && Date.now() < this.pollAt && !this.stopped) {
            await delayOrWake(Math.max(0, this.pollAt - Date.now()), (resolve) => (this.wake = resolve));
            this.wake = undefined;
          }
          if (this.stopped) return;
          this.roundDue = false;
          const rows: T[] = [];
          if (this.dirty.size > 0) {
            const ids = [...this.dirty];
            this.dirty.clear();
            for (const row of await Promise.all(ids.map((id) => set.read(id)))) if (row) rows.push(row);
          }
          let polled = false;
          if (Date.now() >= this.pollAt) {
            polled = true;
            const found = await readChangedAfter(set, pollFrom, this.config.pollPageSize ?? DEFAULT_POLL_PAGE_SIZE);
            rows.push(...found);
            const top = found.reduce((max, row) => (BigInt(row.changeSeq) > BigInt(max) ? row.changeSeq : max), highest);
            pollFrom = highest; // lag one tick: see the module comment
            highest = top;
          }
          if (this.stopped) return;
          const emitted = this.hand(rows, false);
          if (polled) {
            const relaxed = this.live() && this.config.pushReachesAllWriters && (this.config.notifications?.connected ?? false);
            intervalMs = emitted ? poll.pollMinIntervalMs : Math.min(poll.pollMaxIntervalMs, intervalMs * poll.pollBackoffFactor);
            this.pollAt = Date.now() + (relaxed ? poll.pollMaxIntervalMs : intervalMs);
          }
        }
        finalDue = false;
        const last = await set.final?.();
        if (this.stopped) return;
        if (last) {
          this.stop();
          this.hand(last, true);
          for (const inbox of this.followers) inbox.end();
          return;
        }
      }
    } catch (error) {
      // The store failed: every follower ends with the error, as its own watch would have.
      this.stop();
      for (const inbox of this.followers) inbox.end({ error });
    } finally {
      markReady();
    }
  }
}

/** One subscription of a shared feed: its catch-up from the store, then the feed's rounds, each row checked against what it has sent. */
async function* follow<T extends SequencedRow>(feedOf: () => RowSetFeed<T>, config: RowSetFeedConfig, options: RowSetWatchOptions): AsyncGenerator<T> {
  const { signal } = options;
  if (signal?.aborted) return;
  const feed = feedOf();
  const { set } = feed;
  const maxTracked = config.maxTrackedRows ?? DEFAULT_MAX_TRACKED_ROWS;
  const pageSize = config.pollPageSize ?? DEFAULT_POLL_PAGE_SIZE;
  const inbox = new Inbox<T>(maxTracked);
  const sent = new Map<string, number>();
  const onAbort = () => inbox.notify();
  signal?.addEventListener('abort', onAbort);
  feed.join(inbox);
  try {
    // Before its feed is ready only an abort or the feed's failure wakes the inbox.
    await Promise.race([feed.ready, inbox.wait()]);
    if (signal?.aborted) return;
    // Rows at or before `floor` are not this follower's to send (a snapshot starts at '0').
    const floor = options.since ?? (set.snapshot ? '0' : undefined);
    let catchUpFrom = floor;
    for (;;) {
      if (catchUpFrom !== undefined) {
        const rows = (await readChangedAfter(set, catchUpFrom, pageSize)).sort(byChangeSeq);
        catchUpFrom = undefined;
        for (const row of rows) {
          if (signal?.aborted) return;
          if (admitInto(sent, row, set.inView(row), maxTracked)) yield row;
        }
        continue;
      }
      if (signal?.aborted) return;
      if (inbox.droppedFrom !== undefined) {
        // Fell behind and its rounds were dropped: re-read their window instead.
        catchUpFrom = (BigInt(inbox.droppedFrom) - 1n).toString();
        inbox.droppedFrom = undefined;
        continue;
      }
      const round = inbox.take();
      if (!round) {
        if (inbox.ended) {
          if (inbox.failure) throw inbox.failure.error;
          return;
        }
        await inbox.wait();
        continue;
      }
      for (let i = 0; i < round.rows.length; i++) {
        const row = round.rows[i]!;
        const inView = set.inView(row);
        const last = sent.get(row.id);
        // A row it has not sent: news if the feed took it as news; of the last round (re-read in full),
        // if it is in view and after this follower's floor.
        const fresh = round.final && floor !== undefined ? inView && BigInt(row.changeSeq) > BigInt(floor) : round.news[i]!;
        if (last === undefined && !fresh) continue;
        if (!admitInto(sent, row, inView, maxTracked)) continue;
        yield row;
        if (signal?.aborted) return;
      }
      if (round.final) return;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    feed.leave(inbox);
  }
}

/**
 * Whether `row` is news against `sent` (id → last version emitted), recording it when it is. A
 * row never emitted is news only in view; one that leaves the view is emitted once more, then
 * forgotten. The map's order is least recently changed first, so the oldest goes past `maxTracked`.
 */
function admitInto(sent: Map<string, number>, row: SequencedRow, inView: boolean, maxTracked: number): boolean {
  const last = sent.get(row.id);
  if (last === undefined ? !inView : row.version <= last) return false;
  sent.delete(row.id);
  if (inView) {
    sent.set(row.id, row.version);
    if (sent.size > maxTracked) sent.delete(sent.keys().next().value!);
  }
  return true;
}

/** Parses a message in the spec's format (`{"<idKey>": "...", "state": "..."}`); undefined for anything else. */
export function parseRowMessage<S extends string>(payload: string, idKey: string): { id: string; state: S } | undefined {
  try {
    const message = JSON.parse(payload) as Record<string, unknown> | null;
    const id = message?.[idKey];
    if (typeof id !== 'string' || typeof message?.state !== 'string') return undefined;
    return { id, state: message.state as S };
  } catch {
    return undefined; // A foreign publisher on our channel must not break the feed.
  }
}

async function readChangedAfter<T extends SequencedRow>(set: RowSet<T>, afterSeq: string, pageSize: number): Promise<T[]> {
  const rows: T[] = [];
  let cursor = afterSeq;
  for (;;) {
    const page = await set.changedAfter(cursor, pageSize);
    rows.push(...page);
    if (page.length < pageSize) return rows;
    cursor = page.at(-1)!.changeSeq;
  }
}

function byChangeSeq(a: SequencedRow, b: SequencedRow): number {
  const left = BigInt(a.changeSeq);
  const right = BigInt(b.changeSeq);
  return left < right ? -1 : left > right ? 1 : 0;
}
