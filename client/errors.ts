import type { CombinedError } from '@urql/core';
import type { ErrorInfo, Execution } from './types.js';

/**
 * What went wrong, in one word:
 * - `network`: the server could not be reached or answered outside GraphQL (HTTP status, socket closed);
 * - `graphql`: the server answered with GraphQL errors (see `code`, from `extensions.code`);
 * - `timeout`: `waitFor`'s `timeoutMs` passed (the execution goes on);
 * - `closed`: the client was closed.
 */
export type SenpukiClientErrorKind = 'network' | 'graphql' | 'timeout' | 'closed';

/** One GraphQL error as the server sent it. */
export interface SenpukiGraphQLError {
  message: string;
  /** `extensions.code`: NOT_FOUND, BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN, LIMIT_EXCEEDED, ... */
  code?: string;
  path?: ReadonlyArray<string | number>;
  extensions?: Readonly<Record<string, unknown>>;
}

/** Code of a network error (no GraphQL answer). */
export const NETWORK_ERROR_CODE = 'NETWORK_ERROR';

/**
 * The one error the SDK raises for failed requests and subscriptions, like urql's CombinedError
 * but with a `code`: network errors (`networkError`, code NETWORK_ERROR) are told apart from
 * GraphQL errors (`graphQLErrors`, code = the first one's `extensions.code`).
 */
export class SenpukiClientError extends Error {
  override name = 'SenpukiClientError';
  readonly kind: SenpukiClientErrorKind;
  readonly code: string;
  readonly graphQLErrors: readonly SenpukiGraphQLError[];
  readonly networkError: Error | undefined;

  constructor(
    kind: SenpukiClientErrorKind,
    message: string,
    details: { code?: string; graphQLErrors?: readonly SenpukiGraphQLError[]; networkError?: Error; cause?: unknown } = {},
  ) {
    super(message, { cause: details.cause ?? details.networkError });
    this.kind = kind;
    this.graphQLErrors = details.graphQLErrors ?? [];
    this.networkError = details.networkError;
    this.code = details.code ?? this.graphQLErrors.find((error) => error.code)?.code ?? (kind === 'network' ? NETWORK_ERROR_CODE : 'INTERNAL_SERVER_ERROR');
  }

  /** True when the server was not reached (or answered outside GraphQL). */
  get isNetworkError(): boolean {
    return this.kind === 'network';
  }
}

/** Shape of a GraphQL error on the wire or from urql (GraphQLError instances too). */
interface ErrorLike {
  message?: unknown;
  path?: unknown;
  extensions?: unknown;
}

/** Normalizes a wire or urql GraphQL error. */
export function toGraphQLErrorInfo(error: ErrorLike): SenpukiGraphQLError {
  const extensions = (error.extensions && typeof error.extensions === 'object' ? error.extensions : {}) as Record<string, unknown>;
  return {
    message: typeof error.message === 'string' ? error.message : String(error.message),
    code: typeof extensions.code === 'string' ? extensions.code : undefined,
    path: Array.isArray(error.path) ? (error.path as Array<string | number>) : undefined,
    extensions,
  };
}

/** A SenpukiClientError from GraphQL errors of a response. */
export function graphQLClientError(errors: readonly ErrorLike[]): SenpukiClientError {
  const infos = errors.map(toGraphQLErrorInfo);
  const message = infos.map((error) => (error.code ? `[${error.code}] ${error.message}` : error.message)).join('; ');
  return new SenpukiClientError('graphql', message || 'GraphQL error', { graphQLErrors: infos });
}

/** A SenpukiClientError for a transport failure (an Error, a socket close event, anything thrown). */
export function networkClientError(cause: unknown): SenpukiClientError {
  const close = closeEventOf(cause);
  const error =
    cause instanceof Error
      ? cause
      : new Error(close ? `connection closed (${close.code}${close.reason ? `: ${close.reason}` : ''})` : `network error: ${describe(cause)}`);
  // A socket closed for its credential: the code a GraphQL error would have carried.
  const closeCode = close?.code ?? (error as { closeCode?: unknown }).closeCode;
  const code = closeCode === 4401 ? 'UNAUTHENTICATED' : closeCode === 4403 ? 'FORBIDDEN' : undefined;
  return new SenpukiClientError('network', `Network error: ${error.message}`, { networkError: error, cause, code });
}

/** urql's CombinedError as ours (GraphQL errors win when both are present, as they carry a code). */
export function fromCombinedError(error: CombinedError): SenpukiClientError {
  if (error.graphQLErrors.length > 0) return graphQLClientError(error.graphQLErrors);
  return networkClientError(error.networkError ?? error);
}

/** Whatever was thrown, as a SenpukiClientError (kept when it already is one). */
export function toSenpukiClientError(error: unknown): SenpukiClientError {
  if (error instanceof SenpukiClientError) return error;
  if (Array.isArray(error)) return graphQLClientError(error as ErrorLike[]);
  if (error && typeof error === 'object' && 'graphQLErrors' in error && 'networkError' in error) return fromCombinedError(error as CombinedError);
  return networkClientError(error);
}

/** Close codes graphql-ws servers use for bad or expired credentials. */
const AUTH_CLOSE_CODES = new Set([4401, 4403]);

/** UNAUTHENTICATED GraphQL errors, or a socket closed for bad credentials. */
export function isAuthFailure(error: unknown): boolean {
  if (Array.isArray(error)) return error.some((item) => (item as { extensions?: { code?: unknown } })?.extensions?.code === 'UNAUTHENTICATED');
  const close = closeEventOf(error);
  return close !== undefined && AUTH_CLOSE_CODES.has(close.code);
}

/** Code of a GraphQL error the server sends when its database was briefly unreachable: asking again may work. */
export const UNAVAILABLE_CODE = 'UNAVAILABLE';

/** True when every GraphQL error says the server was briefly unavailable (worth asking again). */
export function isUnavailable(errors: readonly unknown[]): boolean {
  return errors.length > 0 && errors.every((error) => (error as { extensions?: { code?: unknown } } | undefined)?.extensions?.code === UNAVAILABLE_CODE);
}

/** HTTP 4xx answers (bad request, forbidden): retrying sends the same thing again. */
export function isClientHttpError(error: unknown): boolean {
  const status = (error as { status?: unknown })?.status;
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** A transport failure (close event, anything thrown) as an Error for urql's CombinedError. */
export function toTransportError(error: unknown): Error {
  if (error instanceof Error) return error;
  const close = closeEventOf(error);
  if (close) return Object.assign(new Error(`connection closed (${close.code}${close.reason ? `: ${close.reason}` : ''})`), { closeCode: close.code });
  return new Error(String(error));
}

/** The `{ code, reason }` of a WebSocket close event, when `value` is one. */
export function closeEventOf(value: unknown): { code: number; reason: string } | undefined {
  if (value && typeof value === 'object' && 'code' in value && 'reason' in value && typeof (value as { code: unknown }).code === 'number') {
    return value as { code: number; reason: string };
  }
  return undefined;
}

function describe(value: unknown): string {
  if (value && typeof value === 'object' && 'type' in value) return `${String((value as { type: unknown }).type)} event`;
  return String(value);
}

/** Terminal states other than COMPLETED, and the code each one carries. */
const EXECUTION_ERROR_CODES = {
  FAILED: 'EXECUTION_FAILED',
  TIMED_OUT: 'EXECUTION_TIMED_OUT',
  CANCELLED: 'EXECUTION_CANCELLED',
} as const;

/** An execution's unsuccessful terminal state. */
export type UnsuccessfulState = keyof typeof EXECUTION_ERROR_CODES;

/**
 * `waitFor` rejects with this when the execution ended FAILED, TIMED_OUT or CANCELLED (the same
 * codes as the engine's ExecutionError). `error` is the stored error, `execution` the final row.
 */
export class ExecutionError extends Error {
  override name = 'ExecutionError';
  readonly code: (typeof EXECUTION_ERROR_CODES)[UnsuccessfulState];
  readonly executionId: string;
  readonly state: UnsuccessfulState;
  readonly error: ErrorInfo | null;

  constructor(readonly execution: Execution & { state: UnsuccessfulState }) {
    const verb = execution.state === 'TIMED_OUT' ? 'timed out' : execution.state.toLowerCase();
    const detail = execution.error ? `: ${execution.error.name}: ${execution.error.message}` : '';
    super(`Execution ${execution.id} ${verb}${detail}`);
    this.code = EXECUTION_ERROR_CODES[execution.state];
    this.executionId = execution.id;
    this.state = execution.state;
    this.error = execution.error ?? null;
  }
}

/** True for FAILED, TIMED_OUT and CANCELLED. */
export function isUnsuccessful(execution: Execution): execution is Execution & { state: UnsuccessfulState } {
  return execution.state in EXECUTION_ERROR_CODES;
}
