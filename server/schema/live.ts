import { liveStream, type StreamFailure } from '../realtime/liveStream.js';
import { accessDeadline, tokenExpiredError } from './access.js';
import type { SchemaContext } from './builder.js';

/**
 * A subscription's event stream: ends on unsubscribe or server shutdown, ends with an
 * UNAUTHENTICATED error when the caller's read token expires, and is counted while open.
 */
export function subscribeLive<T>(ctx: SchemaContext, open: (signal: AbortSignal) => AsyncIterator<T>): AsyncIterable<T | StreamFailure> {
  const deadline = accessDeadline(ctx);
  return liveStream(open, {
    signal: ctx.live.signal,
    deadline: deadline && { at: deadline, error: () => tokenExpiredError(deadline) },
    onClose: ctx.live.opened(),
  });
}
