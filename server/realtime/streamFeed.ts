/**
 * Readers of a stream (GraphQL `executionStream`, `senpuki.readStream`): the chunks after a
 * position, the backlog first, then each chunk as it is committed, until the stream is closed.
 *
 *   listen (streams, execution and execution-tasks channels) ─► confirmed (or timed out)
 *     ─► read after `after` ─► emit (the first event always, even empty) ─► closed? ─► end
 *            ▲                                                     │
 *            └──── message, poll tick, or a full page read ◄───────┘
 *
 * The store is the truth: a message only says "read again after the seq you have", so a lost
 * one costs a poll interval. The execution's streams channel wakes readers on new chunks of their
 * stream; the execution and task channels on the end of its task or execution, which closes it. One read answers both
 * (state and chunks in one snapshot), and readers at the same position share a read in flight.
 */
import { executionTasksChannel } from '../engine/announcer.js';
import { delay, delayOrWake } from '../support/timers.js';
import { streamOfMessage, streamsChannel } from '../engine/streamAnnouncer.js';
import { TERMINAL_TASK_STATES, type StreamChunk, type TaskState } from '../engine/types.js';
import { NotFoundError } from '../errors.js';
import { executionChannel, hasChannelListener, type NotificationBackend } from '../notifications/backend.js';
import type { Store, StoredStreamBatch, StreamRead } from '../store/store.js';
import { DEFAULT_LISTEN_CONFIRM_TIMEOUT_MS, pollOptionsOf, type PollOptions } from './changeFeed.js';
import { isConnected, listenChannel } from './channelWatch.js';
import { parseRowMessage } from './rowSetFeed.js';

/** An event holds at most this many chunks, or about this many bytes of them. */
export const STREAM_EVENT_MAX_CHUNKS = 1000;
export const STREAM_EVENT_MAX_BYTES = 1024 * 1024;
/** Stored batches read per query; a full page is followed by the next one at once. */
const READ_PAGE_BATCHES = 8;

/** What a reader receives: chunks in seq order, each after the previous event's; `closed` on the last event. */
export interface StreamEvent {
  chunks: StreamChunk[];
  /** True on the last event: the stream is closed and every chunk has been sent. */
  closed: boolean;
}

export interface StreamFeedConfig extends Partial<PollOptions> {
  store: Store;
  notifications?: NotificationBackend;
  /** Push may relax polling only when every writer publishes where we listen (see ChangeFeedConfig). */
  pushReachesAllWriters: boolean;
  listenConfirmTimeoutMs?: number;
}

export interface StreamWatchOptions {
  /** The last seq the reader has (default 0: from the first chunk). */
  after?: number;
  /** Ends the watch quietly when aborted. */
  signal?: AbortSignal;
}

const MISSED: unique symbol = Symbol('missed read');

export class StreamFeed {
  private readonly poll: PollOptions;
  private readonly inflight = new Map<string, Promise<StreamRead | undefined>>();

  constructor(private readonly config: StreamFeedConfig) {
    this.poll = pollOptionsOf(config);
  }

  /** The chunks after `after`, in events (see the module comment); ends after the event with `closed`. */
  async *watch(executionId: string, name: string, options: StreamWatchOptions = {}): AsyncGenerator<StreamEvent> {
    const { signal } = options;
    const backend = this.config.notifications;
    let changed = false;
    let wake: (() => void) | undefined;
    const nudge = () => {
      changed = true;
      wake?.();
    };
    const onStreamMessage = (payload: string) => {
      if (streamOfMessage(payload) === name) nudge();
    };
    const onTaskMessage = (payload: string) => {
      const message = parseRowMessage<TaskState>(payload, 'task_id');
      if (message && TERMINAL_TASK_STATES.has(message.state)) nudge();
    };
    const listen = { retryMs: this.poll.pollMaxIntervalMs, onConfirmed: nudge };
    const channels = hasChannelListener(backend)
      ? [
          listenChannel(backend, streamsChannel(executionId), onStreamMessage, listen),
          listenChannel(backend, executionChannel(executionId), nudge, listen),
          listenChannel(backend, executionTasksChannel(executionId), onTaskMessage, listen),
        ]
      : []; // A user's spec-only backend has no raw channels: poll only.
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      const confirmTimeoutMs = this.config.listenConfirmTimeoutMs ?? DEFAULT_LISTEN_CONFIRM_TIMEOUT_MS;
      await Promise.race([Promise.all(channels.map((channel) => channel.settled)), delay(confirmTimeoutMs)]);
      let after = options.after ?? 0;
      let first = true;
      let intervalMs = this.poll.pollMinIntervalMs;
      while (!signal?.aborted) {
        changed = false;
        const read: StreamRead | undefined | typeof MISSED = await this.read(executionId, name, after).catch(() => MISSED);
        if (signal?.aborted) return;
        // The store may be briefly unreachable: a missed tick, retried with backoff.
        if (read !== MISSED) {
          if (!read) throw new NotFoundError(`No execution with id ${executionId}`);
          const more = read.batches.length >= READ_PAGE_BATCHES;
          const done = read.closed && !more;
          const events = toEvents(read.batches, after);
          if (events.length === 0 && (first || done)) events.push({ chunks: [], closed: false });
          for (const [index, event] of events.entries()) {
            if (done && index === events.length - 1) event.closed = true;
            after = event.chunks.at(-1)?.seq ?? after;
            yield event;
            if (signal?.aborted) return;
          }
          first = false;
          if (done) return;
          if (more) continue;
          intervalMs = events.length > 0 ? this.poll.pollMinIntervalMs : Math.min(this.poll.pollMaxIntervalMs, intervalMs * this.poll.pollBackoffFactor);
          if (changed) continue;
        } else intervalMs = Math.min(this.poll.pollMaxIntervalMs, intervalMs * this.poll.pollBackoffFactor);
        const relaxed = read !== MISSED && channels.length > 0 && channels.every((channel) => channel.live) && this.config.pushReachesAllWriters && isConnected(backend);
        await delayOrWake(relaxed ? this.poll.pollMaxIntervalMs : intervalMs, (resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      for (const channel of channels) channel.close();
    }
  }

  /** One read per position at a time: readers waiting at the same seq share it. */
  private read(executionId: string, name: string, after: number): Promise<StreamRead | undefined> {
    const key = `${executionId}\n${name}\n${after}`;
    let read = this.inflight.get(key);
    if (!read) {
      read = this.config.store.readStream(executionId, name, after, READ_PAGE_BATCHES).finally(() => this.inflight.delete(key));
      this.inflight.set(key, read);
    }
    return read;
  }
}

/** The chunks after `after` in `batches`, cut into events of at most STREAM_EVENT_MAX_CHUNKS chunks and about STREAM_EVENT_MAX_BYTES. */
function toEvents(batches: StoredStreamBatch[], after: number): StreamEvent[] {
  const events: StreamEvent[] = [];
  let current: StreamChunk[] = [];
  let bytes = 0;
  for (const batch of batches) {
    const skip = Math.max(0, after - batch.firstSeq + 1);
    if (skip >= batch.chunks.length) continue;
    const chunks = batch.chunks.slice(skip).map((data, index) => ({ seq: batch.firstSeq + skip + index, run: batch.run, data }));
    const batchBytes = Math.ceil((batch.bytes * chunks.length) / batch.chunks.length);
    if (current.length > 0 && (current.length + chunks.length > STREAM_EVENT_MAX_CHUNKS || bytes + batchBytes > STREAM_EVENT_MAX_BYTES)) {
      events.push({ chunks: current, closed: false });
      current = [];
      bytes = 0;
    }
    current.push(...chunks);
    bytes += batchBytes;
  }
  if (current.length > 0) events.push({ chunks: current, closed: false });
  return events;
}
