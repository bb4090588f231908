import type { ChannelListener } from '../notifications/backend.js';
import { ChannelNotCarriedError } from '../notifications/engineBackend.js';

/** A live subscription to one channel, whether or not the backend could confirm it. */
export interface ChannelWatch {
  /** Settles when the subscription is confirmed or has failed (a failed one is retried in the background). */
  readonly settled: Promise<void>;
  /** Whether `settled` has settled (read without making the promise). */
  readonly hasSettled: boolean;
  readonly live: boolean;
  close(): void;
}

export interface ListenChannelOptions {
  /** How long to wait before subscribing again when the backend refused (it is down). */
  retryMs: number;
  /** Runs on every confirmation: anything published before it may have been missed. */
  onConfirmed?: () => void;
  /**
   * Also tell `onMessage` (with an empty payload) when the first attempt settles, confirmed or
   * not, and on every later confirmation: for a row's watcher each means "read now", and so one
   * options object serves every listen.
   */
  settleIsMessage?: boolean;
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
  return new ChannelListen(backend, channel, onMessage, options);
}

/** A class rather than closures: a process may hold one per watched row, ten thousand at a time. */
class ChannelListen implements ChannelWatch {
  live = false;
  hasSettled = false;
  private closed = false;
  private unlisten: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  /** Made only when asked for: a row's watcher is told through `onMessage` instead. */
  private settledPromise: Promise<void> | undefined;
  private resolveSettled: (() => void) | undefined;

  constructor(
    private readonly backend: ChannelListener,
    private readonly channel: string,
    private readonly onMessage: (payload: string) => void,
    private readonly options: ListenChannelOptions,
  ) {
    this.attempt();
  }

  get settled(): Promise<void> {
    if (this.hasSettled) return Promise.resolve();
    return (this.settledPromise ??= new Promise((resolve) => (this.resolveSettled = resolve)));
  }

  private settle(): void {
    if (this.hasSettled) return;
    this.hasSettled = true;
    this.resolveSettled?.();
    this.resolveSettled = undefined;
    this.settledPromise = undefined;
    if (this.options.settleIsMessage && !this.closed && !this.live) this.onMessage('');
  }

  private attempt(): void {
    this.backend.listen(this.channel, this.onMessage).then(
      (stop) => {
        if (this.closed) {
          stop();
          return this.settle();
        }
        this.unlisten = stop;
        this.live = true;
        this.settle();
        this.options.onConfirmed?.();
        if (this.options.settleIsMessage) this.onMessage('');
      },
      (error: unknown) => {
        this.settle();
        // A channel the backend can never carry is not retried: the feed polls.
        if (this.closed || error instanceof ChannelNotCarriedError) return;
        this.retry = setTimeout(() => this.attempt(), this.options.retryMs);
        this.retry.unref();
      },
    );
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.unlisten?.();
  }
}
