/**
 * The urql exchange that carries subscriptions, in place of urql's subscriptionExchange, adding
 * what a realtime SDK needs on top of it. One upstream per operation key:
 *
 *   subscribe ─► live ─► (payload: news? emit : drop) ─► final row + complete ─► teardown
 *                 │  ▲
 *   dropped /     │  └── resubscribe with the cursor's `since` (after a backoff)
 *   early complete└──► reconnecting (last result re-emitted with stale: true)
 *
 * Why not urql's own: urql shares one subscription among all subscribers of the same key
 * without replaying the last result, so a second hook or iterator on the same execution would
 * see nothing until the next change (forever, if it is finished). It also takes the server's
 * `complete` at shutdown as the end of the stream. Here operations with the same share key
 * (context[LIVE_SHARE_KEY], default the operation key) share one upstream, a late subscriber
 * gets the last result at once, and only a final row (or an error) ends a live subscription.
 */
import { getOperationName, makeErrorResult, makeOperation, makeResult, stringifyDocument } from '@urql/core';
import type { Exchange, ExecutionResult, Operation, OperationResult } from '@urql/core';
import { filter, makeSubject, merge, onPush, pipe, share, type Source } from 'wonka';
import { retryDelayMs, type RetryOptions } from './backoff.js';
import { isAuthFailure, isClientHttpError, isUnavailable, toTransportError } from './errors.js';
import { createLiveCursor, LIVE_CONTEXT_KEY, LIVE_SHARE_KEY, rootRow, type LiveCursor, type LiveCursorKind } from './resume.js';
import type { LiveRequest, SubscriptionTransport } from './transport.js';

/** Auth failures in a row, each right after a refresh, before giving up (the token source hands out bad tokens). */
const MAX_REAUTH_ATTEMPTS = 3;
/** An auth failure this soon after a refresh means the fresh token was rejected too; later ones are new expiries. */
const REAUTH_GRACE_MS = 500;

export interface LiveExchangeOptions {
  transport: SubscriptionTransport;
  retry?: RetryOptions;
  /** Resubscribes after transport errors (SSE) or early completes, in a row, before failing. Default Infinity. */
  retryAttempts?: number;
  /** Whether a fresh token can be had (a `getToken` hook): then UNAUTHENTICATED resubscribes instead of failing. */
  canRefreshToken: boolean;
}

/** The exchange and the switch that stops every subscription it carries. */
export interface LiveExchange {
  exchange: Exchange;
  /** Stops every upstream and timer; results stop flowing. */
  close(): void;
}

interface Upstream {
  shareKey: number;
  /** The operation that opened it (its query and variables are sent). */
  operation: Operation;
  /** Every operation fed by it, by operation key. */
  subscribers: Map<number, Operation>;
  cursor: LiveCursor | undefined;
  last?: OperationResult;
  stale: boolean;
  final: boolean;
  failed: boolean;
  /** Failed attempts since the last payload (drives the backoff). */
  attempt: number;
  reauths: number;
  reauthAt: number;
  stop?: () => void;
  timer?: ReturnType<typeof setTimeout>;
}

/** Builds the live exchange; put it before fetchExchange. */
export function createLiveExchange(options: LiveExchangeOptions): LiveExchange {
  const { transport } = options;
  const retryAttempts = options.retryAttempts ?? Infinity;
  const upstreams = new Map<number, Upstream>();
  /** Operation key → share key of its upstream. */
  const shareKeys = new Map<number, number>();
  const results = makeSubject<OperationResult>();
  let finish: (up: Upstream) => void = () => {};
  let closed = false;

  const alive = (up: Upstream) => !closed && upstreams.get(up.shareKey) === up;
  /** Sends `result` to every subscriber of `up`, each under its own operation. */
  const emit = (up: Upstream, result: OperationResult) => {
    if (closed) return;
    for (const operation of up.subscribers.values()) results.next({ ...result, operation });
  };

  function start(up: Upstream): void {
    up.timer = undefined;
    const { operation } = up;
    const request: LiveRequest = {
      query: stringifyDocument(operation.query),
      operationName: getOperationName(operation.query),
      extensions: operation.extensions as Record<string, unknown> | undefined,
      // A getter: graphql-ws re-sends this object after a reconnect, and must send today's cursor.
      get variables() {
        return { ...(operation.variables as Record<string, unknown>), ...up.cursor?.resumeVariables() };
      },
    };
    let ended = false;
    const end = () => {
      const was = ended;
      ended = true;
      return !was && alive(up);
    };
    const stopThis = transport.subscribe(request, {
      next: (payload) => {
        if (!ended && alive(up) && onPayload(up, payload)) {
          ended = true;
          stopThis();
        }
      },
      error: (error) => {
        if (end()) onError(up, error);
      },
      complete: () => {
        if (end()) onComplete(up);
      },
    });
    up.stop = stopThis;
  }

  /** Handles one payload; true when it ended this attempt (an auth failure to recover from). */
  function onPayload(up: Upstream, payload: ExecutionResult): boolean {
    if (payload.errors && payload.errors.length > 0) {
      if (isAuthFailure(payload.errors) && canReauth(up)) {
        reauthenticate(up);
        return true;
      }
      // The server's database blinked: resume a live subscription from its cursor, as after a drop.
      if (up.cursor && isUnavailable(payload.errors) && up.attempt < retryAttempts) {
        resubscribeLater(up);
        return true;
      }
      up.failed = true;
      emit(up, makeResult(up.operation, payload));
      return false;
    }
    const row = rootRow(payload.data);
    if (up.cursor && !up.cursor.accept(row)) return false;
    up.attempt = 0;
    up.reauths = 0;
    up.stale = false;
    up.last = makeResult(up.operation, payload);
    emit(up, up.last);
    if (up.cursor?.isFinal(row)) up.final = true;
    return false;
  }

  function onComplete(up: Upstream): void {
    // A live subscription that completes before its final row (or, for a stream the server ends
    // by itself, before the cursor says it is over) was cut short by a server shutdown or
    // restart: resume it. Anything else ends here.
    if (!up.cursor || up.final || up.failed || up.cursor.completeIsFinal?.()) finish(up);
    else resubscribeLater(up);
  }

  function onError(up: Upstream, error: unknown): void {
    if (isAuthFailure(error) && canReauth(up)) return reauthenticate(up);
    // graphql-ws retried already (its errors are final); SSE streams are retried here.
    const retryable = !Array.isArray(error) && !transport.reconnects && up.cursor !== undefined && !isClientHttpError(error);
    if (retryable && up.attempt < retryAttempts) return resubscribeLater(up);
    up.failed = true;
    emit(up, Array.isArray(error) ? makeResult(up.operation, { errors: error }) : makeErrorResult(up.operation, toTransportError(error)));
    finish(up);
  }

  function canReauth(up: Upstream): boolean {
    if (Date.now() - up.reauthAt > REAUTH_GRACE_MS) up.reauths = 0;
    return options.canRefreshToken && up.reauths < MAX_REAUTH_ATTEMPTS;
  }

  function reauthenticate(up: Upstream): void {
    up.reauths++;
    up.reauthAt = Date.now();
    transport.reauthenticate();
    resubscribeLater(up);
  }

  function resubscribeLater(up: Upstream): void {
    up.stop = undefined;
    markStale(up);
    up.timer = setTimeout(() => {
      if (alive(up)) start(up);
    }, retryDelayMs(up.attempt++, options.retry));
  }

  function markStale(up: Upstream): void {
    if (up.last && !up.stale && !up.final) {
      up.stale = true;
      emit(up, { ...up.last, stale: true });
    }
  }

  function stop(up: Upstream): void {
    clearTimeout(up.timer);
    up.stop?.();
    up.stop = undefined;
  }

  function onOperation(operation: Operation): void {
    if (operation.kind === 'teardown') {
      const shareKey = shareKeys.get(operation.key);
      shareKeys.delete(operation.key);
      const up = shareKey === undefined ? undefined : upstreams.get(shareKey);
      if (up?.subscribers.delete(operation.key) && up.subscribers.size === 0) {
        upstreams.delete(up.shareKey);
        stop(up);
      }
      return;
    }
    const shareKey = (operation.context[LIVE_SHARE_KEY] as number | undefined) ?? operation.key;
    shareKeys.set(operation.key, shareKey);
    const existing = upstreams.get(shareKey);
    if (existing) {
      // Another subscriber: give it at once what the others already have.
      existing.subscribers.set(operation.key, operation);
      const last = existing.last;
      if (last) {
        void Promise.resolve().then(() => {
          if (alive(existing) && existing.subscribers.has(operation.key)) results.next({ ...last, operation, stale: existing.stale });
        });
      }
      return;
    }
    const kind = operation.context[LIVE_CONTEXT_KEY] as LiveCursorKind | undefined;
    const variables = operation.variables as Record<string, unknown> | undefined;
    const up: Upstream = {
      shareKey,
      operation,
      subscribers: new Map([[operation.key, operation]]),
      cursor: kind ? createLiveCursor(kind, variables?.since) : undefined,
      stale: false,
      final: false,
      failed: false,
      attempt: 0,
      reauths: 0,
      reauthAt: 0,
    };
    upstreams.set(shareKey, up);
    start(up);
  }

  const unlisten = transport.onConnection((event) => {
    for (const up of upstreams.values()) {
      if (event === 'dropped') markStale(up);
      else if (up.stale && up.last && !up.timer && up.stop) {
        // graphql-ws resubscribed it on the new socket: live again.
        up.stale = false;
        emit(up, { ...up.last, stale: false });
      }
    }
  });

  const exchange: Exchange = ({ client, forward }) => {
    finish = (up) => {
      upstreams.delete(up.shareKey);
      stop(up);
      // Ends the result stream of every subscriber, as urql's subscriptionExchange does.
      for (const operation of up.subscribers.values()) {
        shareKeys.delete(operation.key);
        client.reexecuteOperation(makeOperation('teardown', operation, operation.context));
      }
    };
    return (operations$) => {
      const shared$ = share(operations$);
      const handled$ = pipe(
        shared$,
        filter((operation) => operation.kind === 'subscription' || operation.kind === 'teardown'),
        onPush(onOperation),
        filter(() => false),
      ) as unknown as Source<OperationResult>;
      const forwarded$ = forward(pipe(shared$, filter((operation) => operation.kind !== 'subscription')));
      return merge([handled$, results.source, forwarded$]);
    };
  };

  return {
    exchange,
    close() {
      if (closed) return;
      closed = true;
      unlisten();
      for (const up of upstreams.values()) stop(up);
      upstreams.clear();
      shareKeys.clear();
    },
  };
}
