import type { ExecutionResult } from '@urql/core';

/**
 * One subscription request. `variables` is read each time the request is (re)sent, so a
 * transport that resubscribes on its own after a reconnect sends the current resume cursor,
 * not the one the subscription started with.
 */
export interface LiveRequest {
  query: string;
  operationName?: string;
  readonly variables: Record<string, unknown>;
  extensions?: Record<string, unknown>;
}

/** Receives one subscription's events. */
export interface LiveSink {
  next(result: ExecutionResult): void;
  /** A failure: GraphQL errors as an array, anything else is a transport error. */
  error(error: unknown): void;
  complete(): void;
}

/** Connection changes a transport reports to every subscription it carries. */
export type ConnectionEvent = 'dropped' | 'connected';

/**
 * How subscriptions travel: graphql-ws (one socket for all) or SSE (one HTTP stream each).
 * The live exchange owns resume; a transport only moves events.
 */
export interface SubscriptionTransport {
  readonly kind: 'ws' | 'sse';
  /** Starts a subscription; the returned function stops it (and tells the server). */
  subscribe(request: LiveRequest, sink: LiveSink): () => void;
  /**
   * Whether the transport already re-establishes dropped connections itself (graphql-ws does, and
   * resends active subscriptions); if not, the exchange resubscribes after a transport error.
   */
  readonly reconnects: boolean;
  /** Listens to connection changes (graphql-ws only); returns the unlisten function. */
  onConnection(listener: (event: ConnectionEvent) => void): () => void;
  /** Re-opens the connection so it authenticates again with a fresh token (graphql-ws). */
  reauthenticate(): void;
  dispose(): Promise<void>;
}
