import { GraphQLError } from 'graphql';
import { SenpukiError, type SenpukiErrorCode } from '../errors.js';
import { isTransientStoreError } from '../store/transientErrors.js';

/** Message of every error we did not raise on purpose. */
export const MASKED_ERROR_MESSAGE = 'Unexpected error.';
/** What a client is told when the database connection failed under its request. */
export const UNAVAILABLE_MESSAGE = 'The database could not be reached just now (connection lost or restarting); try again in a moment.';

/** Codes whose messages are written for clients; every other error is masked. */
const PUBLIC_CODES: ReadonlySet<SenpukiErrorCode> = new Set([
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'CONFLICT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'TIMEOUT',
  'LIMIT_EXCEEDED',
]);

/** HTTP status of a request refused with a code (also a subscription that could not start, over SSE). */
export const HTTP_STATUS_BY_CODE: Readonly<Record<string, number>> = {
  BAD_REQUEST: 400,
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  LIMIT_EXCEEDED: 429,
  UNAVAILABLE: 503,
};

/** HTTP status for errors that stop a whole request (only authentication does). */
const HTTP_STATUS: Partial<Record<SenpukiErrorCode, number>> = { UNAUTHENTICATED: HTTP_STATUS_BY_CODE.UNAUTHENTICATED };

/** Where masked errors are reported (their detail goes to the log, never to the client). */
export type ErrorLogger = (error: unknown) => void;

/**
 * Yoga's `maskError`: SenpukiErrors with a public code keep their message and get
 * `extensions.code`; GraphQL's own errors (syntax, validation, limits) pass; anything else
 * (SQL errors, bugs) becomes "Unexpected error." with code INTERNAL_SERVER_ERROR, and a lost
 * database connection says so with code UNAVAILABLE (clients may try again); both are logged. No stack or SQL text ever reaches a client, in
 * development either.
 */
export function createErrorMasker(log: ErrorLogger): (error: unknown, message: string) => Error {
  return (error) => {
    const graphQLError = error instanceof GraphQLError ? error : undefined;
    const original = graphQLError ? graphQLError.originalError : error;
    if (graphQLError && (original === undefined || original === null || original instanceof GraphQLError)) return graphQLError;
    if (original instanceof SenpukiError && PUBLIC_CODES.has(original.code)) {
      // Fields written for clients beside the message (e.g. the bad items of a dispatchMany).
      const details = (original as { details?: Record<string, unknown> }).details ?? {};
      if (graphQLError) {
        // Same object, code added: Yoga logs every error the masker replaces, and these are expected.
        Object.assign(graphQLError.extensions as Record<string, unknown>, details, { code: original.code });
        return graphQLError;
      }
      const status = HTTP_STATUS[original.code];
      return new GraphQLError(original.message, { extensions: { ...details, code: original.code, ...(status ? { http: { status } } : {}) } });
    }
    log(original);
    const code = isTransientStoreError(original) ? 'UNAVAILABLE' : 'INTERNAL_SERVER_ERROR';
    const location = graphQLError ? { nodes: graphQLError.nodes, source: graphQLError.source, positions: graphQLError.positions, path: graphQLError.path } : {};
    return new GraphQLError(code === 'UNAVAILABLE' ? UNAVAILABLE_MESSAGE : MASKED_ERROR_MESSAGE, { ...location, extensions: { code } });
  };
}

/** A request-level error (no field): the client-facing GraphQLError of a SenpukiError, with its HTTP status. */
export function requestError(error: SenpukiError): GraphQLError {
  const status = HTTP_STATUS[error.code];
  return new GraphQLError(error.message, { extensions: { code: error.code, ...(status ? { http: { status } } : {}) } });
}

/**
 * The errors of a graphql-ws message: every error without a code gets `code`, and the extensions
 * Yoga keeps for HTTP (status codes) go, as they mean nothing on a socket. Errors may be shared
 * (cached results): copied, not changed.
 */
export function socketErrors(errors: readonly GraphQLError[], code: string): GraphQLError[] {
  return errors.map((error) => {
    const { http: _http, unexpected: _unexpected, ...extensions } = error.extensions ?? {};
    return new GraphQLError(error.message, {
      nodes: error.nodes,
      source: error.source,
      positions: error.positions,
      path: error.path,
      originalError: error.originalError,
      extensions: { ...extensions, code: extensions.code ?? code },
    });
  });
}
