import { liveStream, type StreamFailure } from '../realtime/liveStream.js';
import { accessDeadline, tokenExpiredError, type Principal } from './access.js';
import type { SchemaContext } from './builder.js';

/**
 * A subscription's event stream: ends on unsubscribe or server shutdown, ends with an
 * UNAUTHENTICATED error when the caller's read token expires, and is counted while open (by
 * `kind`, the subscription field, for metrics).
 */
export function subscribeLive<T>(ctx: SchemaContext, open: (signal: AbortSignal) => AsyncIterator<T>, kind = 'other'): AsyncIterable<T | StreamFailure> {
  const deadline = accessDeadline(ctx);
  const onClose = ctx.live.opened(kind, ctx.sseClientAddress === undefined ? undefined : `${principalKey(ctx.principal)}@${ctx.sseClientAddress}`);
  return liveStream(open, {
    signal: ctx.live.signal,
    deadline: deadline && { at: deadline, error: () => tokenExpiredError(deadline) },
    onClose,
  });
}

/** Who an SSE client is, for its subscription count: a read token counts apart from the key its back end uses. */
function principalKey(principal: Principal): string {
  return principal.kind === 'executionToken' ? `token:${principal.executionId}` : principal.kind;
}
