/**
 * The many-row counterpart of the change feed: every row of a set (executions matching a filter,
 * the tasks of one execution) whose row changes, found through the global change sequence.
 *
 *   listen on the set's channels ─► confirmed (or timed out) ─► cursor = `since` or the set's start
 *        │                                                            │
 *        │  message naming a row: re-read that row ───────────────────┤
 *        │  poll tick: rows with change_seq > cursor (filter in SQL) ─┤
 *        │                                                            ▼
 *        └──────── emit a row when its version is newer than the one last emitted ─► `final`? ─► end
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
import { hasChannelListener, type NotificationBackend } from '../notifications/backend.js';
import { DEFAULT_LISTEN_CONFIRM_TIMEOUT_MS, pollOptionsOf, type PollOptions } from './changeFeed.js';
import { delay, delayOrWake } from '../support/timers.js';
import { isConnected, listenChannel } from './channelWatch.js';

/** Rows whose last emitted version one watch remembers (oldest forgotten first). */
export const DEFAULT_MAX_TRACKED_ROWS = 10_000;
/** Rows per poll query; a full page is followed by the next one at once. */
export const DEFAULT_POLL_PAGE_SIZE = 500;

export interface RowSetFeedConfig extends Partial<PollOptions> {
  notifications?: NotificationBackend;
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
  /** Where a watch without `since` starts; read once its channels are confirmed, so nothing later is missed. */
  start(): Promise<string>;
  /** True: first emit every row changed after the start (a snapshot); false: only later changes. */
  snapshot: boolean;
  /**
   * Asked after every round: when the set can change no more, the rows to emit last (the version
   * check drops those already sent), and the watch ends; undefined to go on.
   */
  final?(): Promise<T[] | undefined>;
}

export interface RowSetWatchOptions {
  /** Change sequence to resume after (the highest `changeSeq` received). */
  since?: string;
  /** Ends the watch quietly when aborted. */
  signal?: AbortSignal;
}

/** Each change of a row in `set`, in write order within a round; ends only if `set.final` says so. */
export async function* watchRowSet<T extends SequencedRow>(config: RowSetFeedConfig, set: RowSet<T>, options: RowSetWatchOptions = {}): AsyncGenerator<T> {
  const poll = pollOptionsOf(config);
  const { signal } = options;
  const backend = config.notifications;
  const maxTracked = config.maxTrackedRows ?? DEFAULT_MAX_TRACKED_ROWS;
  const seen = new Map<string, number>();
  const tracked = (id: string) => seen.has(id);
  const dirty = new Set<string>();
  let roundDue = false;
  let pollAt = 0;
  let wake: (() => void) | undefined;
  const onMessage = (rowOf: RowSetChannel['rowOf'], payload: string) => {
    if (!rowOf) roundDue = true;
    else {
      const id = rowOf(payload, tracked);
      if (id === undefined) return;
      dirty.add(id);
    }
    wake?.();
  };
  const onConfirmed = () => {
    // Confirmed late (after an outage): messages may have been missed, so poll now.
    pollAt = 0;
    wake?.();
  };
  const channels = hasChannelListener(backend)
    ? set.channels.map(({ channel, rowOf }) =>
        listenChannel(backend, channel, (payload) => onMessage(rowOf, payload), { retryMs: poll.pollMaxIntervalMs, onConfirmed }),
      )
    : []; // A user's spec-only backend has no raw channels: poll only.
  const live = () => channels.length > 0 && channels.every((channel) => channel.live);

  /** Whether `row` is news, recording it as emitted when it is. */
  const admit = (row: T): boolean => {
    const inView = set.inView(row);
    const last = seen.get(row.id);
    if (last === undefined ? !inView : row.version <= last) return false;
    seen.delete(row.id); // re-inserted below, so the map's order is least recently changed first
    if (inView) {
      seen.set(row.id, row.version);
      if (seen.size > maxTracked) seen.delete(seen.keys().next().value!);
    }
    return true;
  };

  const onAbort = () => wake?.();
  signal?.addEventListener('abort', onAbort);
  try {
    const confirmTimeoutMs = config.listenConfirmTimeoutMs ?? DEFAULT_LISTEN_CONFIRM_TIMEOUT_MS;
    await Promise.race([Promise.all(channels.map((channel) => channel.settled)), delay(confirmTimeoutMs)]);
    if (signal?.aborted) return;
    let highest = options.since ?? (await set.start());
    let pollFrom = highest;
    let intervalMs = poll.pollMinIntervalMs;
    pollAt = options.since !== undefined || set.snapshot ? 0 : Date.now() + intervalMs;
    for (;;) {
      if (dirty.size === 0 && !roundDue && Date.now() < pollAt) {
        await delayOrWake(Math.max(0, pollAt - Date.now()), (resolve) => (wake = resolve));
        wake = undefined;
      }
      if (signal?.aborted) return;
      roundDue = false;
      const rows: T[] = [];
      if (dirty.size > 0) {
        const ids = [...dirty];
        dirty.clear();
        for (const row of await Promise.all(ids.map((id) => set.read(id)))) if (row) rows.push(row);
      }
      let polled = false;
      if (Date.now() >= pollAt) {
        polled = true;
        const found = await pollChanges(set, pollFrom, config.pollPageSize ?? DEFAULT_POLL_PAGE_SIZE);
        rows.push(...found);
        const top = found.reduce((max, row) => (BigInt(row.changeSeq) > BigInt(max) ? row.changeSeq : max), highest);
        pollFrom = highest; // lag one tick: see the module comment
        highest = top;
      }
      if (signal?.aborted) return;
      let emitted = false;
      for (const row of rows.sort(byChangeSeq)) {
        if (!admit(row)) continue;
        emitted = true;
        yield row;
        if (signal?.aborted) return;
      }
      const last = await set.final?.();
      if (signal?.aborted) return;
      if (last) {
        for (const row of last.sort(byChangeSeq)) if (admit(row)) yield row;
        return;
      }
      if (polled) {
        const relaxed = live() && config.pushReachesAllWriters && isConnected(backend);
        intervalMs = emitted ? poll.pollMinIntervalMs : Math.min(poll.pollMaxIntervalMs, intervalMs * poll.pollBackoffFactor);
        pollAt = Date.now() + (relaxed ? poll.pollMaxIntervalMs : intervalMs);
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    for (const channel of channels) channel.close();
  }
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

async function pollChanges<T extends SequencedRow>(set: RowSet<T>, afterSeq: string, pageSize: number): Promise<T[]> {
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
