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
import { makeOperation } from '@urql/core';
import type { Exchange, Operation, OperationResult } from '@urql/core';
import { filter, makeSubject, merge, onPush, pipe, share, type Source } from 'wonka';
import type { RetryOptions } from './backoff.js';
import { LiveUpstream, type UpstreamHost } from './liveUpstream.js';
import { LIVE_SHARE_KEY } from './resume.js';
import type { SubscriptionTransport } from './transport.js';

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

/** Builds the live exchange; put it before fetchExchange. */
export function createLiveExchange(options: LiveExchangeOptions): LiveExchange {
  const { transport } = options;
  const upstreams = new Map<number, LiveUpstream>();
  /** Operation key → share key of its upstream. */
  const shareKeys = new Map<number, number>();
  const results = makeSubject<OperationResult>();
  let finish: (up: LiveUpstream) => void = () => {};
  let closed = false;

  const host: UpstreamHost = {
    transport,
    retry: options.retry,
    retryAttempts: options.retryAttempts ?? Infinity,
    canRefreshToken: options.canRefreshToken,
    deliver: (result) => {
      if (!closed) results.next(result);
    },
    isCurrent: (up) => !closed && upstreams.get(up.shareKey) === up,
    finish: (up) => finish(up),
  };

  function onOperation(operation: Operation): void {
    if (operation.kind === 'teardown') {
      const shareKey = shareKeys.get(operation.key);
      shareKeys.delete(operation.key);
      const up = shareKey === undefined ? undefined : upstreams.get(shareKey);
      if (up?.subscribers.delete(operation.key) && up.subscribers.size === 0) {
        upstreams.delete(up.shareKey);
        up.stop();
      }
      return;
    }
    const shareKey = (operation.context[LIVE_SHARE_KEY] as number | undefined) ?? operation.key;
    shareKeys.set(operation.key, shareKey);
    const existing = upstreams.get(shareKey);
    if (existing) return existing.join(operation);
    const up = new LiveUpstream(shareKey, operation, host);
    upstreams.set(shareKey, up);
    up.start();
  }

  const unlisten = transport.onConnection((event) => {
    for (const up of upstreams.values()) up.onConnection(event);
  });

  const exchange: Exchange = ({ client, forward }) => {
    finish = (up) => {
      upstreams.delete(up.shareKey);
      up.stop();
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
      for (const up of upstreams.values()) up.stop();
      upstreams.clear();
      shareKeys.clear();
    },
  };
}
