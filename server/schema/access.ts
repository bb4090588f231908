import { SenpukiError } from '../errors.js';

/**
 * Who is calling. `open`: no API keys are configured, everything is allowed. `apiKey`: a
 * configured key, everything is allowed. `executionToken`: the read token `dispatch` returned,
 * good for reading and subscribing to one execution and its tasks until it expires.
 */
export type Principal =
  | { kind: 'open' }
  | { kind: 'apiKey' }
  | { kind: 'executionToken'; executionId: string; expiresAt: Date };

/** The part of the context access checks need. */
export interface AccessContext {
  principal: Principal;
}

/** The error a request with an expired read token gets (and its subscriptions end with). */
export function tokenExpiredError(expiresAt: Date): SenpukiError {
  return new SenpukiError(
    'UNAUTHENTICATED',
    `The read token expired at ${expiresAt.toISOString()}; dispatch again or ask your back end for a fresh token`,
  );
}

/** Throws unless the caller holds an API key (or the server has none configured). */
export function requireFullAccess(ctx: AccessContext, what: string): void {
  const { principal } = ctx;
  if (principal.kind !== 'executionToken') return;
  checkNotExpired(principal);
  throw new SenpukiError(
    'FORBIDDEN',
    `${what} needs an API key; this read token may only read execution ${principal.executionId} and its tasks`,
  );
}

/** Throws unless the caller may read execution `executionId` (and its tasks). */
export function requireExecutionAccess(ctx: AccessContext, executionId: string): void {
  const { principal } = ctx;
  if (principal.kind !== 'executionToken') return;
  checkNotExpired(principal);
  if (principal.executionId !== executionId) {
    throw new SenpukiError(
      'FORBIDDEN',
      `This read token is for execution ${principal.executionId} only; it cannot read execution ${executionId} or its tasks`,
    );
  }
}

/** When the caller's access ends on its own (a read token's expiry); undefined for keys. */
export function accessDeadline(ctx: AccessContext): Date | undefined {
  return ctx.principal.kind === 'executionToken' ? ctx.principal.expiresAt : undefined;
}

function checkNotExpired(principal: Extract<Principal, { kind: 'executionToken' }>): void {
  // A graphql-ws connection keeps the principal it authenticated with; check the clock each time.
  if (principal.expiresAt.getTime() <= Date.now()) throw tokenExpiredError(principal.expiresAt);
}
