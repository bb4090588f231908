import { getOperationName, makeErrorResult, makeResult, stringifyDocument } from '@urql/core';
import type { ExecutionResult, Operation, OperationResult } from '@urql/core';
import { reconnectDelayMs, type RetryOptions } from './backoff.js';
import { isAuthFailure, isClientHttpError, isUnavailable, toTransportError } from './errors.js';
import { createLiveCursor, LIVE_CONTEXT_KEY, rootRow, type LiveCursor, type LiveCursorKind } from './resume.js';
import type { LiveRequest, SubscriptionTransport } from './transport.js';

/** Auth failures in a row, each right after a refresh, before giving up (the token source hands out bad tokens). */
const MAX_REAUTH_ATTEMPTS = 3;
/** An auth failure this soon after a refresh means the fresh token was rejected too; later ones are new expiries. */
const REAUTH_GRACE_MS = 500;

/** What an upstream needs from the exchange that owns it. */
export interface UpstreamHost {
  transport: SubscriptionTransport;
  retry?: RetryOptions;
  /** Resubscribes in a row before failing. */
  retryAttempts: number;
  canRefreshToken: boolean;
  /** Hands a result to urql (nothing once the exchange is closed). */
  deliver(result: OperationResult): void;
  /** Whether `up` is still the exchange's upstream for its share key (not finished, not closed). */
  isCurrent(up: LiveUpstream): boolean;
  /** Removes `up` and ends the result stream of each of its subscribers. */
  finish(up: LiveUpstream): void;
}

/**
 * One server subscription and every urql operation it feeds: the state machine that owns the one
 * resume cursor (see liveExchange.ts for the picture).
 */
export class LiveUpstream {
  /** Every operation fed by it, by operation key. */
  readonly subscribers: Map<number, Operation>;
  private readonly cursor: LiveCursor | undefined;
  private last?: OperationResult;
  private stale = false;
  private final = false;
  private failed = false;
  /** Failed attempts since the last payload (drives the backoff). */
  private attempt = 0;
  private reauths = 0;
  private reauthAt = 0;
  private stopAttempt?: () => void;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(
    readonly shareKey: number,
    /** The operation that opened it (its query and variables are sent). */
    private readonly operation: Operation,
    private readonly host: UpstreamHost,
  ) {
    this.subscribers = new Map([[operation.key, operation]]);
    const kind = operation.context[LIVE_CONTEXT_KEY] as LiveCursorKind | undefined;
    const variables = operation.variables as Record<string, unknown> | undefined;
    this.cursor = kind ? createLiveCursor(kind, variables?.since) : undefined;
  }

  /** Another subscriber: it gets at once what the others already have. */
  join(operation: Operation): void {
    this.subscribers.set(operation.key, operation);
    const last = this.last;
    if (!last) return;
    void Promise.resolve().then(() => {
      if (this.host.isCurrent(this) && this.subscribers.has(operation.key)) this.host.deliver({ ...last, operation, stale: this.stale });
    });
  }

  start(): void {
    this.timer = undefined;
    const { operation } = this;
    const cursor = this.cursor;
    const request: LiveRequest = {
      query: stringifyDocument(operation.query),
      operationName: getOperationName(operation.query),
      extensions: operation.extensions as Record<string, unknown> | undefined,
      // A getter: graphql-ws re-sends this object after a reconnect, and must send today's cursor.
      get variables() {
        return { ...(operation.variables as Record<string, unknown>), ...cursor?.resumeVariables() };
      },
    };
    let ended = false;
    const end = () => {
      const was = ended;
      ended = true;
      return !was && this.host.isCurrent(this);
    };
    const stopThis = this.host.transport.subscribe(request, {
      next: (payload) => {
        if (!ended && this.host.isCurrent(this) && this.onPayload(payload)) {
          ended = true;
          stopThis();
        }
      },
      error: (error) => {
        if (end()) this.onError(error);
      },
      complete: () => {
        if (end()) this.onComplete();
      },
    });
    this.stopAttempt = stopThis;
  }

  /** Stops the server subscription and any pending resubscribe. */
  stop(): void {
    clearTimeout(this.timer);
    this.stopAttempt?.();
    this.stopAttempt = undefined;
  }

  /** The transport's connection dropped, or came back (graphql-ws resubscribed on the new socket). */
  onConnection(event: 'dropped' | 'connected'): void {
    if (event === 'dropped') this.markStale();
    else if (this.stale && this.last && !this.timer && this.stopAttempt) {
      this.stale = false;
      this.emit({ ...this.last, stale: false });
    }
  }

  /** Sends `result` to every subscriber, each under its own operation. */
  private emit(result: OperationResult): void {
    for (const operation of this.subscribers.values()) this.host.deliver({ ...result, operation });
  }

  /** Handles one payload; true when it ended this attempt (an auth failure to recover from). */
  private onPayload(payload: ExecutionResult): boolean {
    if (payload.errors && payload.errors.length > 0) {
      if (isAuthFailure(payload.errors) && this.canReauth()) {
        this.reauthenticate();
        return true;
      }
      // The server's database blinked: resume a live subscription from its cursor, as after a drop.
      if (this.cursor && isUnavailable(payload.errors) && this.attempt < this.host.retryAttempts) {
        this.resubscribeLater();
        return true;
      }
      this.failed = true;
      this.emit(makeResult(this.operation, payload));
      return false;
    }
    const row = rootRow(payload.data);
    if (this.cursor && !this.cursor.accept(row)) return false;
    this.attempt = 0;
    this.reauths = 0;
    this.stale = false;
    this.last = makeResult(this.operation, payload);
    this.emit(this.last);
    if (this.cursor?.isFinal(row)) this.final = true;
    return false;
  }

  private onComplete(): void {
    // A live subscription that completes before its final row (or, for a stream the server ends
    // by itself, before the cursor says it is over) was cut short by a server shutdown or
    // restart: resume it. Anything else ends here.
    if (!this.cursor || this.final || this.failed || this.cursor.completeIsFinal?.()) this.host.finish(this);
    else this.resubscribeLater();
  }

  private onError(error: unknown): void {
    if (isAuthFailure(error) && this.canReauth()) return this.reauthenticate();
    // graphql-ws retried already (its errors are final); SSE streams are retried here.
    const retryable = !Array.isArray(error) && !this.host.transport.reconnects && this.cursor !== undefined && !isClientHttpError(error);
    if (retryable && this.attempt < this.host.retryAttempts) return this.resubscribeLater();
    this.failed = true;
    this.emit(Array.isArray(error) ? makeResult(this.operation, { errors: error }) : makeErrorResult(this.operation, toTransportError(error)));
    this.host.finish(this);
  }

  private canReauth(): boolean {
    if (Date.now() - this.reauthAt > REAUTH_GRACE_MS) this.reauths = 0;
    return this.host.canRefreshToken && this.reauths < MAX_REAUTH_ATTEMPTS;
  }

  private reauthenticate(): void {
    this.reauths++;
    this.reauthAt = Date.now();
    this.host.transport.reauthenticate();
    this.resubscribeLater();
  }

  private resubscribeLater(): void {
    this.stopAttempt = undefined;
    this.markStale();
    this.timer = setTimeout(() => {
      if (this.host.isCurrent(this)) this.start();
    }, reconnectDelayMs(++this.attempt, this.host.retry));
  }

  private markStale(): void {
    if (this.last && !this.stale && !this.final) {
      this.stale = true;
      this.emit({ ...this.last, stale: true });
    }
  }
}
