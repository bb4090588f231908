import SchemaBuilder from '@pothos/core';
import type { Senpuki } from '../engine/senpuki.js';
import type { DurableFunction } from '../engine/registry.js';
import type { DeadLetterRecord, ExecutionRecord, TaskRecord } from '../domain/types.js';
import type { ExecutionTasksFeed } from '../realtime/executionTasksFeed.js';
import type { ExecutionsFeed } from '../realtime/executionsFeed.js';
import type { Principal } from './access.js';

/** Mints the short-lived read token `dispatch` returns (implemented by the HTTP layer). */
export interface ReadTokenIssuer {
  issue(executionId: string): Promise<{ token: string; expiresAt: Date }>;
}

/** What subscriptions need from the server they run in. */
export interface LiveContext {
  /** Aborted when the server shuts down: every subscription completes. */
  signal: AbortSignal;
  /**
   * Counts an open subscription of `kind` (its field); the returned function ends the count
   * (idempotent). With a `client` (an SSE client), throws LIMIT_EXCEEDED once that client has
   * too many open.
   */
  opened(kind: string, client?: string): () => void;
  /**
   * The same count without a function to end it, for a subscription object that knows when it
   * ends (one closure fewer each, of ten thousand): +1 when it opens, -1 once when it ends.
   */
  counted(kind: string, change: 1 | -1): void;
}

/** The per-operation context every resolver receives. */
export interface SchemaContext {
  senpuki: Senpuki;
  executionsFeed: ExecutionsFeed;
  executionTasksFeed: ExecutionTasksFeed;
  principal: Principal;
  tokens: ReadTokenIssuer;
  live: LiveContext;
  /** Largest JSON size of `dispatch` arguments this server accepts. */
  maxArgsBytes: number;
  /** The remote address of an HTTP (SSE) request; undefined over graphql-ws, which counts per connection. */
  sseClientAddress?: string;
}

/**
 * The one Pothos builder. No plugins: connections, auth checks and errors are a few lines each
 * here, and the plugins would add global ids, a Node interface and their own error shapes that
 * the client SDK would then have to carry.
 */
export const builder = new SchemaBuilder<{
  Context: SchemaContext;
  DefaultFieldNullability: false;
  Scalars: {
    JSON: { Input: unknown; Output: unknown };
    DateTime: { Input: Date; Output: Date };
    Duration: { Input: number; Output: number };
  };
  Objects: {
    Execution: ExecutionRecord;
    Task: TaskRecord;
    DurableFunction: DurableFunction;
    DeadLetter: DeadLetterRecord;
  };
}>({ defaultFieldNullability: false });
