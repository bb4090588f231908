/**
 * One task's writer of one stream (`ctx.stream(name)`): durable, batched, and exactly once per
 * position across re-runs of the task.
 *
 *   new ─► open ─┬─► appending ──────────────────────────────► closed / finished
 *                ├─► replaying ─┬─ all matched ─► appending (same run)
 *                │              └─ a write differs ─► appending (next run: matched ones copied first)
 *                └─► replaying a stream an earlier run closed ─► ignoring (on the first difference)
 *
 * Appending: `write()` buffers the chunk and resolves at once (or, past a full batch in the
 * buffer, once the buffer drains: backpressure); one batch at a time goes to the store, so a
 * tight loop of writes costs a statement per batch of up to STREAM_BATCH_MAX_CHUNKS chunks,
 * and a lone write is committed within one round trip. The runner waits for every chunk to be
 * committed before it writes the task's outcome.
 *
 * Replaying: the stream already holds chunks of this task (an earlier attempt, or this attempt
 * on a worker that died or stopped). A re-run's writes are compared, position by position, with
 * the chunks of the stream's current run: one equal to the stored chunk is not written again.
 * Readers have seen those chunks and see nothing twice. At the first write that differs (or a
 * re-run that ends with fewer chunks) the stream starts its next run, which holds this run's
 * whole output: the matched chunks are appended again, then the new ones. Chunks carry their run.
 */
import type { Logger } from 'pino';
import { ConflictError, SenpukiError, TaskAbortedError, ValidationError } from '../errors.js';
import type { Store, StoredStreamBatch, StreamRefusal, StreamWriterKey } from '../store/store.js';
import { retryTransient } from '../store/transientErrors.js';
import type { Json } from '../domain/types.js';
import { jsonEqual } from './jsonEqual.js';
import { STREAM_BATCH_MAX_BYTES, STREAM_BATCH_MAX_CHUNKS, type StreamLimits } from './streamLimits.js';
import { toJson } from './validation.js';

/** Stored chunks a replaying writer reads at once (batches per query). */
const REPLAY_PAGE_BATCHES = 16;

/** What `ctx.stream(name)` returns. */
export interface DurableStream<T = Json> {
  readonly name: string;
  /**
   * Appends a JSON chunk. Resolves once it is buffered (so a tight loop costs a few statements,
   * not one per chunk); it is committed within a round trip, and before the task's outcome.
   */
  write(chunk: T): Promise<void>;
  /** Writes what is buffered and closes the stream: readers complete. Later writes throw. Idempotent. */
  close(): Promise<void>;
}

export interface StreamWriterDeps {
  store: Store;
  key: StreamWriterKey;
  limits: StreamLimits;
  /** The task's signal: store retries stop when it aborts. */
  signal: AbortSignal;
  /** Called after each commit with the stream's new length. */
  announce: (length: number) => void;
  logger?: Logger;
}

interface Queued {
  value: Json;
  text: string;
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Replay {
  /** Chunks of the stream's current run: stored at seqs runStart .. runStart + length - 1. */
  length: number;
  /** How many writes of this run matched so far. */
  matched: Queued[];
  page: StoredStreamBatch[];
  /** The stream was closed by an earlier run: what differs is dropped, not appended. */
  closed: boolean;
}

const RESOLVED = Promise.resolve();

export class StreamWriter implements DurableStream {
  private phase: 'new' | 'replaying' | 'appending' | 'ignoring' = 'new';
  private opening: Promise<void> | undefined;
  private replay: Replay | undefined;
  /** What ended the writer, and whether a write or close() has rejected with it (the function knows). */
  private failure: { error: unknown; reported: boolean } | undefined;
  /** Writes waiting for the stream to open or for their replay comparison, in order. */
  private readonly queue: Queued[] = [];
  private pumping: Promise<void> | undefined;
  /** Chunks waiting for the next batch, and their JSON size. */
  private buffer: Array<{ text: string; bytes: number }> = [];
  private bufferBytes = 0;
  private flushing: Promise<void> | undefined;
  private drainWaiters: Array<() => void> = [];
  /** seq of the last chunk committed. */
  private length = 0;
  /** seq of the last chunk handed out (committed, in flight or buffered). */
  private assigned = 0;
  private run = 1;
  private runStart = 1;
  private closing: Promise<void> | undefined;
  private ended: string | undefined;

  constructor(private readonly deps: StreamWriterDeps) {}

  get name(): string {
    return this.deps.key.name;
  }

  write(chunk: unknown): Promise<void> {
    const { name } = this;
    if (this.ended) return Promise.reject(new ValidationError(`Stream "${name}" ${this.ended}`));
    let value: Json;
    let text: string;
    try {
      value = toJson(chunk, `stream "${name}" chunk`);
      text = JSON.stringify(value);
    } catch (error) {
      return Promise.reject(error);
    }
    const bytes = Buffer.byteLength(text);
    if (bytes > this.deps.limits.maxChunkBytes) {
      return Promise.reject(
        new ValidationError(`A chunk of stream "${name}" is ${bytes} bytes of JSON; the limit is ${this.deps.limits.maxChunkBytes} (streamLimits.maxChunkBytes). Split it into smaller chunks.`),
      );
    }
    if (this.failure) return Promise.reject(this.reportFailure());
    if (this.phase === 'appending' && this.queue.length === 0) return this.append(text, bytes);
    if (this.phase === 'ignoring' && this.queue.length === 0) return RESOLVED;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ value, text, bytes, resolve, reject });
      this.pump();
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.ended ??= 'is closed; write before closing it';
      await this.settle(true, true).catch((error: unknown) => {
        if (this.failure?.error === error) this.reportFailure();
        throw error;
      });
      if (this.phase !== 'ignoring' && !this.replay?.closed) {
        const refusal = await retryTransient(() => this.deps.store.closeStream(this.deps.key), { signal: this.deps.signal });
        if (refusal) throw refusalError(refusal, this.name);
        this.deps.announce(this.length);
      }
    })();
    return this.closing;
  }

  /**
   * The task's body has ended: commits everything buffered. `completed` says whether it returned:
   * then a re-run that wrote fewer chunks than the stream's run held starts a new run, and a
   * failure to commit that no write has reported throws (the task must not complete without its
   * output). After a throw the task's own error counts; its next run writes again what is missing.
   */
  async finish(completed: boolean): Promise<void> {
    this.ended ??= 'belongs to a task that has ended; write before the function returns (await every write)';
    try {
      await (this.closing ?? this.settle(completed, false));
    } catch (error) {
      // A failure a write or close() rejected with is the function's to handle, and it did.
      const seen = this.failure !== undefined && this.failure.error === error && this.failure.reported;
      if (completed && !seen) throw error;
    }
  }

  /**
   * Waits for queued writes, ends a replay cut short (when `diverge`), and commits every buffered
   * chunk. Opens the stream only when `open` (close() creates an empty stream; finishing does not).
   */
  private async settle(diverge: boolean, open = diverge): Promise<void> {
    if (!this.opening && !open) return;
    await this.open();
    while (this.pumping) await this.pumping;
    if (diverge && this.phase === 'replaying' && !this.replay!.closed) this.startNextRun();
    while (this.flushing || this.buffer.length > 0) {
      this.scheduleFlush();
      await this.flushing;
    }
    if (this.failure) throw this.failure.error;
  }

  private reportFailure(): unknown {
    this.failure!.reported = true;
    return this.failure!.error;
  }

  private open(): Promise<void> {
    this.opening ??= (async () => {
      const { store, key, limits, signal } = this.deps;
      const opened = await retryTransient(() => store.openStream(key, limits.maxStreams), { signal });
      if (!opened.ok) {
        if (opened.reason === 'limit') {
          throw new SenpukiError(
            'LIMIT_EXCEEDED',
            `Execution ${key.executionId} has ${limits.maxStreams} streams, the limit (streamLimits.maxStreams); stream "${key.name}" was not opened. Write to fewer streams (one stream can carry an item name in each chunk).`,
          );
        }
        throw refusalError(opened.reason, key.name);
      }
      const { head } = opened;
      if (head.taskId !== key.taskId) {
        throw new ConflictError(`Stream "${key.name}" of execution ${key.executionId} is written by task ${head.taskId}; a stream has one writer. Give this task's stream another name.`);
      }
      this.length = this.assigned = head.length;
      this.run = head.run;
      this.runStart = head.runStart;
      const runLength = head.length - head.runStart + 1;
      if (runLength > 0 || head.closed) {
        this.phase = 'replaying';
        this.replay = { length: Math.max(0, runLength), matched: [], page: [], closed: head.closed };
        if (runLength <= 0) this.endReplay();
      } else this.phase = 'appending';
    })().catch((error) => {
      this.fail(error);
      throw error;
    });
    return this.opening;
  }

  /** Feeds queued writes through the open step and the replay comparison, one at a time, in order. */
  private pump(): void {
    this.pumping ??= (async () => {
      try {
        await this.open();
        while (this.queue.length > 0 && !this.failure) {
          const item = this.queue[0]!;
          let matched = false;
          try {
            if (this.phase === 'replaying') matched = await this.compare(item);
            if (!matched && this.phase === 'appending') await this.append(item.text, item.bytes);
          } catch (error) {
            if (!isLimitError(error)) throw error;
            this.queue.shift();
            item.reject(error); // this write only: the function may catch it and go on
            continue;
          }
          this.queue.shift();
          item.resolve();
        }
      } catch (error) {
        this.fail(error);
      } finally {
        this.pumping = undefined;
      }
    })();
  }

  /** One write of a re-run against the stored chunk at its position; true when it matched (nothing to write). */
  private async compare(item: Queued): Promise<boolean> {
    const replay = this.replay!;
    const position = replay.matched.length;
    const stored = position < replay.length ? await this.storedAt(this.runStart + position) : undefined;
    if (stored !== undefined && jsonEqual(stored.value, item.value)) {
      replay.matched.push(item);
      if (replay.matched.length === replay.length) this.endReplay();
      return true;
    }
    if (replay.closed) {
      this.phase = 'ignoring';
      this.replay = undefined;
      this.deps.logger?.warn({ stream: this.name, executionId: this.deps.key.executionId }, 'an earlier run of this task closed the stream; what this run writes to it is dropped');
      return true;
    }
    this.startNextRun();
    return false;
  }

  /** The stored chunk at `seq` (of the current run), read a page of batches at a time. */
  private async storedAt(seq: number): Promise<{ value: Json } | undefined> {
    const replay = this.replay!;
    let batch = replay.page.find((candidate) => candidate.firstSeq <= seq && seq <= candidate.lastSeq);
    if (!batch) {
      const { store, key } = this.deps;
      replay.page = await retryTransient(() => store.streamBatches(key.executionId, key.name, seq, this.length, REPLAY_PAGE_BATCHES), { signal: this.deps.signal });
      batch = replay.page.find((candidate) => candidate.firstSeq <= seq && seq <= candidate.lastSeq);
    }
    return batch && { value: batch.chunks[seq - batch.firstSeq]! };
  }

  /** Every write matched what the run held: carry on appending to the same run. */
  private endReplay(): void {
    const closed = this.replay!.closed;
    this.replay = undefined;
    this.phase = closed ? 'ignoring' : 'appending';
  }

  /** This run's output differs from the stream's current run: a new run, starting with the chunks that matched. */
  private startNextRun(): void {
    const matched = this.replay!.matched;
    this.replay = undefined;
    this.phase = 'appending';
    this.run += 1;
    this.runStart = this.length + 1;
    for (const item of matched) void this.append(item.text, item.bytes).catch(() => {}); // a failure is recorded and thrown by the next write
  }

  /** Buffers a chunk for the next batch; resolves at once unless a full batch is already waiting. */
  private append(text: string, bytes: number): Promise<void> {
    if (this.assigned >= this.deps.limits.maxChunks) {
      return Promise.reject(
        new SenpukiError(
          'LIMIT_EXCEEDED',
          `Stream "${this.name}" holds ${this.deps.limits.maxChunks} chunks, the limit (streamLimits.maxChunks); write fewer, larger chunks or use another stream.`,
        ),
      );
    }
    this.assigned += 1;
    this.buffer.push({ text, bytes });
    this.bufferBytes += bytes + 1;
    this.scheduleFlush();
    if (this.buffer.length < STREAM_BATCH_MAX_CHUNKS && this.bufferBytes < STREAM_BATCH_MAX_BYTES) return RESOLVED;
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private scheduleFlush(): void {
    if (this.flushing || this.buffer.length === 0 || this.failure) return;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined;
      this.scheduleFlush(); // a write made while the last batch was finishing
    });
  }

  /** Sends batches while chunks are buffered; writes made meanwhile gather into the next one. */
  private async flushLoop(): Promise<void> {
    await null; // let a burst of writes made in this turn gather into the first batch
    const { store, key, signal } = this.deps;
    try {
      while (this.buffer.length > 0) {
        let count = 0;
        let bytes = 2;
        while (count < this.buffer.length && count < STREAM_BATCH_MAX_CHUNKS && (count === 0 || bytes + this.buffer[count]!.bytes + 1 <= STREAM_BATCH_MAX_BYTES)) {
          bytes += this.buffer[count]!.bytes + (count > 0 ? 1 : 0);
          count += 1;
        }
        const taken = this.buffer.splice(0, count);
        this.bufferBytes -= taken.reduce((sum, chunk) => sum + chunk.bytes + 1, 0);
        this.wakeWriters();
        const batch = {
          firstSeq: this.length + 1,
          lastSeq: this.length + count,
          run: this.run,
          runStart: this.runStart,
          chunksJson: `[${taken.map((chunk) => chunk.text).join(',')}]`,
          bytes,
        };
        const refusal = await retryTransient(() => store.appendStreamBatch(key, batch), { signal });
        if (refusal) throw refusalError(refusal, this.name);
        this.length = batch.lastSeq;
        this.deps.announce(this.length);
      }
    } catch (error) {
      this.fail(error);
    }
  }

  private wakeWriters(): void {
    if (this.buffer.length >= STREAM_BATCH_MAX_CHUNKS || this.bufferBytes >= STREAM_BATCH_MAX_BYTES) return;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  /** Ends the writer: queued writes reject, later ones too; the task sees the error at its next write or at its end. */
  private fail(error: unknown): void {
    this.failure ??= { error, reported: false };
    for (const item of this.queue.splice(0)) item.reject(this.reportFailure());
    this.buffer = [];
    this.bufferBytes = 0;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }
}

const isLimitError = (error: unknown) => error instanceof SenpukiError && error.code === 'LIMIT_EXCEEDED';

function refusalError(reason: StreamRefusal, name: string): Error {
  if (reason === 'lease_lost') return new TaskAbortedError('lease_lost');
  if (reason === 'inactive') return new TaskAbortedError('cancelled');
  if (reason === 'closed') return new ConflictError(`Stream "${name}" is closed; nothing more can be written to it`);
  return new ConflictError(`Stream "${name}" was written by someone else meanwhile; a stream has one writer`);
}
