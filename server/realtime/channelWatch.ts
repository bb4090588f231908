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
  return new ChannelListen(backend, channel, onMessage, options);
}

/** A class rather than closures: a process may hold one per watched row, ten thousand at a time. */
class ChannelListen implements ChannelWatch {
  live = false;
  readonly settled: Promise<void>;
  private closed = false;
  private unlisten: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly backend: ChannelListener,
    private readonly channel: string,
    private readonly onMessage: (payload: string) => void,
    private readonly options: ListenChannelOptions,
  ) {
    this.settled = this.attempt();
  }

  private attempt(): Promise<void> {
    return this.backend.listen(this.channel, this.onMessage).then(
      (stop) => {
        if (this.closed) return stop();
        this.unlisten = stop;
        this.live = true;
        this.options.onConfirmed?.();
      },
      (error: unknown) => {
        // A channel the backend can never carry is not retried: the feed polls.
        if (this.closed || error instanceof ChannelNotCarriedError) return;
        this.retry = setTimeout(() => void this.attempt(), this.options.retryMs);
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
