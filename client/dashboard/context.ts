import { SenpukiClientError } from '../errors.js';
import type { SenpukiClient } from '../senpukiClient.js';
import type { DurableFunction } from '../types.js';
import type { ConnectionIndicator } from './connection.js';
import { h } from './dom.js';

/** What the server put in the page (see server/http/useDashboard.ts). */
export interface DashboardConfig {
  graphqlPath: string;
  /** Arguments to pre-fill the dispatch form with, by function name. */
  exampleArgs: Record<string, unknown[]>;
}

/** What every view gets from the shell. */
export interface DashboardContext {
  readonly client: SenpukiClient;
  readonly config: DashboardConfig;
  readonly connection: ConnectionIndicator;
  /** The registered functions, read once per page load. */
  functions(): Promise<DurableFunction[]>;
  /** Called with request errors: an UNAUTHENTICATED one asks for an API key. */
  onRequestError(error: unknown): void;
}

/** The server's words for what went wrong, without a stack. */
export function describeError(error: unknown): string {
  if (error instanceof SenpukiClientError) {
    if (error.kind === 'network') return `Cannot reach the server (${error.networkError?.message ?? error.message}). Is it running?`;
    if (error.graphQLErrors.length > 0) return error.graphQLErrors.map((item) => item.message).join('\n');
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The error code (`extensions.code`), when the server sent one. */
export function errorCode(error: unknown): string | undefined {
  return error instanceof SenpukiClientError ? error.code : undefined;
}

/** An inline error box with the server's message and its code. */
export function errorBox(error: unknown): HTMLElement {
  const code = errorCode(error);
  return h('div', { class: 'error-box', role: 'alert' }, code && code !== 'INTERNAL_SERVER_ERROR' ? h('span', { class: 'code-chip' }, code) : null, describeError(error));
}
