import { ValidationError } from '../errors.js';

/** Largest JSON size of one chunk. */
export const DEFAULT_MAX_STREAM_CHUNK_BYTES = 64 * 1024;
/** Most chunks one stream may hold. */
export const DEFAULT_MAX_STREAM_CHUNKS = 100_000;
/** Most streams one execution may have. */
export const DEFAULT_MAX_STREAMS_PER_EXECUTION = 1000;
/** A batch (one row, one statement) holds at most this many chunks, or this many bytes. */
export const STREAM_BATCH_MAX_CHUNKS = 1000;
export const STREAM_BATCH_MAX_BYTES = 1024 * 1024;

/** Limits on what functions write to streams (`new Senpuki({ streamLimits })`). */
export interface StreamLimits {
  maxChunkBytes: number;
  maxChunks: number;
  maxStreams: number;
}

/** `limits` with the defaults filled in; a bad limit fails here, not in a task. */
export function streamLimitsOf(limits: Partial<StreamLimits> = {}): StreamLimits {
  const resolved = {
    maxChunkBytes: limits.maxChunkBytes ?? DEFAULT_MAX_STREAM_CHUNK_BYTES,
    maxChunks: limits.maxChunks ?? DEFAULT_MAX_STREAM_CHUNKS,
    maxStreams: limits.maxStreams ?? DEFAULT_MAX_STREAMS_PER_EXECUTION,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isInteger(value) || value < 1) throw new ValidationError(`streamLimits.${name} must be a positive integer; got ${value}`);
  }
  if (resolved.maxChunkBytes > STREAM_BATCH_MAX_BYTES) throw new ValidationError(`streamLimits.maxChunkBytes must be at most ${STREAM_BATCH_MAX_BYTES}`);
  return resolved;
}
