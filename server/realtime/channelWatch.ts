import type { ChannelListener } from '../notifications/backend.js';
import { ChannelNotCarriedError } from '../notifications/engineBackend.js';

/** A live subscription to one channel, whether or not the backend could confirm it. */
export interface ChannelWatch {
  /** Settles when the subscription is confirmed or has failed (a failed one is retried in the background). */
  settled: Promise<void>;
  readonly live: boolean;
  close(): void;
}

export interface ListenChannelOptions {
  /** How long to wait before subscribing again when the backend refused (it is down). */
  retryMs: number;
  /** Runs on every confirmation: anything published before it may have been missed. */
  onConfirmed?: () => void;
}

/**
 * Subscribes `onMessage` to `channel`, and keeps trying while the backend is down, so a feed
 * opened during an outage polls meanwhile and gets push once the backend is back.
 */
export function listenChannel(
  backend: ChannelListener,
  channel: string,
  onMessage: (payload: string) => void,
  options: ListenChannelOptions,
): ChannelWatch {
  let live = false;
  let closed = false;
  let unlisten: (() => void) | undefined;
  let retry: NodeJS.Timeout | undefined;
  const attempt = (): Promise<void> =>
    backend.listen(channel, onMessage).then(
      (stop) => {
        if (closed) return stop();
        unlisten = stop;
        live = true;
        options.onConfirmed?.();
      },
      (error: unknown) => {
        // A channel the backend can never carry is not retried: the feed polls.
        if (closed || error instanceof ChannelNotCarriedError) return;
        retry = setTimeout(() => void attempt(), options.retryMs);
        retry.unref();
      },
    );
  const settled = attempt();
  return {
    settled,
    get live() {
      return live;
    },
    close() {
      closed = true;
      clearTimeout(retry);
      unlisten?.();
    },
  };
}
