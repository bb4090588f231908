import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { waitFor } from './conditions.js';

/** One GraphQL response or subscription event. */
export interface GraphQLResult<T = any> {
  data?: T | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: { code?: string; [key: string]: unknown } }>;
}

/** Something that answers fetch-style requests: `yoga.fetch` or the global `fetch`. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response> | Response;

/** POSTs an operation and returns the HTTP status and the parsed body. */
export async function postGraphQL<T = any>(
  fetchFn: FetchLike,
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: GraphQLResult<T> }> {
  const response = await fetchFn(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as GraphQLResult<T> };
}

/** Events of one subscription as they arrive, plus how it ended. */
export class EventLog<T = any> {
  readonly events: GraphQLResult<T>[] = [];
  completed = false;
  /** A transport-level failure (graphql-ws `error` message, socket close, broken stream). */
  failure: unknown;

  push(event: GraphQLResult<T>): void {
    this.events.push(event);
  }

  /** Waits until at least `count` events arrived. */
  async waitForEvents(count: number, timeoutMs?: number): Promise<GraphQLResult<T>[]> {
    await waitFor(() => this.events.length >= count || (this.failure !== undefined && this.events.length >= count), {
      timeoutMs,
      message: `${count} subscription events (have ${this.events.length})`,
    });
    return this.events;
  }

  /** Waits until the stream ended (completed or failed). */
  async waitForEnd(timeoutMs?: number): Promise<this> {
    await waitFor(() => this.completed || this.failure !== undefined, { timeoutMs, message: 'the subscription to end' });
    return this;
  }
}

/** A graphql-ws client that does not retry (tests want to see failures). */
export function wsClient(url: string, connectionParams?: Record<string, unknown>): Client {
  return createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
  });
}

/** Subscribes over graphql-ws; `stop()` unsubscribes. */
export function wsSubscribe<T = any>(client: Client, query: string, variables?: Record<string, unknown>): { log: EventLog<T>; stop: () => void } {
  const log = new EventLog<T>();
  const stop = client.subscribe<T>(
    { query, variables },
    {
      next: (value) => log.push(value as GraphQLResult<T>),
      error: (error) => {
        log.failure = error;
      },
      complete: () => {
        log.completed = true;
      },
    },
  );
  return { log, stop };
}

/** Subscribes over SSE (Yoga's distinct-connection mode); `stop()` aborts the request. */
export function sseSubscribe<T = any>(
  fetchFn: FetchLike,
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): { log: EventLog<T>; stop: () => void; status: Promise<number> } {
  const log = new EventLog<T>();
  const controller = new AbortController();
  const status = (async () => {
    const response = await fetchFn(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
      body: JSON.stringify({ query, variables }),
      signal: controller.signal,
    });
    void readEvents(response, log);
    return response.status;
  })();
  status.catch((error) => {
    log.failure = error;
  });
  return { log, stop: () => controller.abort(), status };
}

async function readEvents(response: Response, log: EventLog): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    if (!response.body) throw new Error(`no body (HTTP ${response.status})`);
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trim())
          .join('\n');
        if (event === 'next') log.push(JSON.parse(data));
        if (event === 'complete') log.completed = true;
      }
    }
    if (!log.completed) log.failure = new Error('SSE stream ended without a complete event');
  } catch (error) {
    if (!log.completed) log.failure = error;
  }
}
