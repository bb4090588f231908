/**
 * Exit codes of the client commands: scripts can branch on an execution's outcome without
 * parsing output.
 */
import { SenpukiClientError } from '../../../client/errors.js';
import type { ExecutionState } from '../../../client/types.js';

export const EXIT_COMPLETED = 0;
export const EXIT_FAILED = 1;
export const EXIT_TIMED_OUT = 2;
export const EXIT_CANCELLED = 3;
/** Bad usage or input: unknown option, invalid JSON, an id or function the server does not know. */
export const EXIT_USAGE = 4;
/** The server could not be reached. */
export const EXIT_UNREACHABLE = 5;

/** The exit-code table for `--help`. */
export const EXIT_CODES_HELP = `Exit codes:
  0  completed (or the command succeeded)
  1  the execution failed (or an unexpected error)
  2  the execution timed out
  3  the execution was cancelled
  4  usage error or bad input (invalid JSON, unknown id or function, missing API key)
  5  the server could not be reached`;

/** The exit code of a finished execution. */
export function exitCodeFor(state: ExecutionState): number {
  switch (state) {
    case 'COMPLETED':
      return EXIT_COMPLETED;
    case 'TIMED_OUT':
      return EXIT_TIMED_OUT;
    case 'CANCELLED':
    case 'CANCELLING':
      return EXIT_CANCELLED;
    default:
      return EXIT_FAILED;
  }
}

/** An error whose message is meant for the user as it is, with the exit code to leave with. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** GraphQL error codes that mean "you asked for something wrong". */
const USAGE_CODES = new Set(['BAD_USER_INPUT', 'NOT_FOUND', 'CONFLICT', 'FORBIDDEN', 'UNAUTHENTICATED', 'LIMIT_EXCEEDED', 'GRAPHQL_VALIDATION_FAILED']);

/** Any error as a CliError: the server's message, a hint on what to do, and the exit code. */
export function toCliError(error: unknown, url: string): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof SenpukiClientError) {
    if (error.kind === 'network') {
      // fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, ...) is its cause.
      const reason = (error.networkError?.cause as { code?: string; message?: string } | undefined) ?? undefined;
      const cause = reason?.code ?? reason?.message ?? error.networkError?.message ?? error.message;
      return new CliError(
        `cannot reach the Senpuki server at ${url} (${cause}).\nStart one with \`npx senpuki serve\`, or point --url / SENPUKI_URL at it.`,
        EXIT_UNREACHABLE,
        { cause: error },
      );
    }
    const message = error.graphQLErrors.length ? error.graphQLErrors.map((item) => item.message).join('\n') : error.message;
    if (error.code === 'UNAUTHENTICATED') return new CliError(`${message}\nPass an API key with --api-key or SENPUKI_API_KEY.`, EXIT_USAGE, { cause: error });
    return new CliError(message, USAGE_CODES.has(error.code) ? EXIT_USAGE : EXIT_FAILED, { cause: error });
  }
  return new CliError(error instanceof Error ? error.message : String(error), EXIT_FAILED, { cause: error });
}
