import type { SubscriptionTransport } from './transport.js';

export interface SseTransportOptions {
  /** http(s):// URL of the GraphQL endpoint. */
  url: string;
  /** A fetch that adds the credential (called for every subscription, so tokens stay fresh). */
  fetch: typeof fetch;
}

/** An HTTP answer that is not an event stream; `status` tells the exchange whether to retry. */
export class HttpStatusError extends Error {
  override name = 'HttpStatusError';
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

/**
 * Server-sent events (GraphQL over SSE, "distinct connections" mode, as Yoga serves it): one
 * POST with `accept: text/event-stream` per subscription; `event: next` carries a result,
 * `event: complete` ends it. A stream that breaks off without `complete` is a transport error,
 * which the live exchange answers by resubscribing.
 */
export function createSseTransport(options: SseTransportOptions): SubscriptionTransport {
  return {
    kind: 'sse',
    reconnects: false,
    subscribe(request, sink) {
      const controller = new AbortController();
      const run = async () => {
        const response = await options.fetch(options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({ query: request.query, operationName: request.operationName, variables: request.variables, extensions: request.extensions }),
          signal: controller.signal,
        });
        // A stream with a 4xx status still carries the error event that says why (an unknown id, a forbidden one).
        if (!response.body || !(response.headers.get('content-type') ?? '').includes('text/event-stream')) {
          const body = (await response.json().catch(() => undefined)) as { errors?: unknown[] } | undefined;
          if (Array.isArray(body?.errors) && body.errors.length > 0) return sink.error(body.errors);
          return sink.error(new HttpStatusError(response.status));
        }
        for await (const event of readEvents(response.body, controller.signal)) {
          if (event.type === 'next') sink.next(JSON.parse(event.data));
          else if (event.type === 'complete') return sink.complete();
        }
        if (!controller.signal.aborted) sink.error(new Error('the event stream ended without a complete event'));
      };
      run().catch((error: unknown) => {
        if (!controller.signal.aborted) sink.error(error);
      });
      return () => controller.abort();
    },
    onConnection: () => () => {},
    reauthenticate() {
      // Nothing to do: every subscription request asks getToken afresh.
    },
    async dispose() {},
  };
}

/** Parses a text/event-stream body into `{ type, data }` events (comments and keep-alives skipped). */
async function* readEvents(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<{ type: string; data: string }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let type = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) type = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length > 0 || type !== 'message') yield { type, data: data.join('\n') };
      }
    }
  } finally {
    try {
      reader.releaseLock();
    } catch {
      // Already released by the abort.
    }
  }
}
