import type { LiveUpdates } from './senpukiClient.js';
import type { StreamChunk } from './types.js';

/** What an `executionStream` event holds. */
export interface StreamEventPayload {
  closed: boolean;
  chunks: ReadonlyArray<{ seq: number; run: number; data: unknown }>;
}

/**
 * The chunks of a live `executionStream` subscription one at a time, each seq once and in order:
 * events are unpacked, and a chunk at or below the last seq handed out (an event replayed after
 * a reconnect) is dropped. Ends after the event that closes the stream.
 */
export class StreamIterator<T> implements LiveUpdates<StreamChunk<T>> {
  private pending: ReadonlyArray<StreamEventPayload['chunks'][number]> = [];
  private next_ = 0;

  constructor(
    private readonly events: LiveUpdates<StreamEventPayload>,
    private last: number,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<StreamChunk<T>, undefined>> {
    for (;;) {
      while (this.next_ < this.pending.length) {
        const chunk = this.pending[this.next_++]!;
        if (chunk.seq <= this.last) continue;
        this.last = chunk.seq;
        return { value: chunk as StreamChunk<T>, done: false };
      }
      const result = await this.events.next();
      if (result.done) return { value: undefined, done: true };
      this.pending = result.value.chunks;
      this.next_ = 0;
    }
  }

  async return(): Promise<IteratorResult<StreamChunk<T>, undefined>> {
    this.pending = [];
    await this.events.return();
    return { value: undefined, done: true };
  }
}
