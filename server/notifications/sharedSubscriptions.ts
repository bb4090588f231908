/**
 * Reference-counted channel subscriptions over ONE shared connection (Redis subscriber, Postgres
 * LISTEN connection). Per channel:
 *
 *   wanted = has listeners          subscribed = the connection confirmed SUBSCRIBE (and no UNSUBSCRIBE since)
 *
 *        first listen                 SUBSCRIBE ok
 *   idle ────────────► subscribing ───────────────► subscribed
 *    ▲                     │ fails: waiters reject       │ last unlisten
 *    └─────────────────────┴──── unsubscribing ◄─────────┘
 *                 UNSUBSCRIBE ok      (a listen meanwhile → SUBSCRIBE again)
 *
 * One reconcile loop per channel at a time moves `subscribed` towards `wanted`, re-checking after
 * every command, so a listen right after the last unlisten ends up subscribed and commands on one
 * channel never interleave. A caller that gives up (timeout, connection lost) never abandons the
 * command itself: the loop awaits its real outcome and undoes it if nobody wants it any more.
 * The connection keeps subscriptions across reconnects (ioredis autoResubscribe, re-LISTEN).
 */

import { SmallSet } from '../support/smallSet.js';

/** Moves one channel on the shared connection; rejects when the server did not confirm. */
export interface SubscriberConnection {
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
}

export interface SharedSubscriptionsOptions {
  /** A listen not confirmed within this time rejects (its caller falls back to polling). */
  subscribeTimeoutMs: number;
  /** Told about failed UNSUBSCRIBEs and other errors nobody awaits. */
  onError?: (error: unknown, channel: string) => void;
}

/** A channel's listeners (most watched channels have exactly one: a row's watcher). */
class ChannelEntry extends SmallSet<Registration> {
  subscribed = false;
  loop: Promise<void> | undefined;
}

/** One listen: its own object, so the same callback may listen twice and be removed once per registration. */
class Registration {
  constructor(
    readonly onMessage: (payload: string) => void,
    private readonly owner: SharedSubscriptions,
    private readonly channel: string,
    private readonly entry: ChannelEntry,
  ) {}

  remove(): void {
    if (!this.entry.delete(this)) return;
    if (this.entry.size === 0) this.owner.reconcileLater(this.channel, this.entry);
  }
}

/** Thrown by `listen` when the subscription was not confirmed in time. */
export class SubscribeTimeoutError extends Error {
  override name = 'SubscribeTimeoutError';
}

/** The ref-counting core shared by the Redis and Postgres backends. */
export class SharedSubscriptions {
  private readonly channels = new Map<string, ChannelEntry>();
  private readonly pending = new Set<(error: Error) => void>();
  private closed = false;

  constructor(
    private readonly connection: SubscriberConnection,
    private readonly options: SharedSubscriptionsOptions,
  ) {}

  /** Resolves once `channel` is confirmed subscribed; the returned function removes this listener. */
  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => void> {
    if (this.closed) throw new Error('The notification backend is closed');
    let entry = this.channels.get(channel);
    if (!entry) this.channels.set(channel, (entry = new ChannelEntry()));
    const registration = new Registration(onMessage, this, channel, entry);
    entry.add(registration);
    // A bound method rather than a closure: no context object per listen.
    const remove = registration.remove.bind(registration);
    if (!entry.subscribed || entry.loop) {
      try {
        await this.confirmed(channel, entry);
      } catch (error) {
        remove();
        throw error;
      }
      if (!entry.subscribed) {
        remove();
        throw new Error(`Subscription to ${channel} was not confirmed`);
      }
    }
    return remove;
  }

  /** Delivers a message to every listener of `channel`; one faulty listener does not stop the rest. */
  dispatch(channel: string, payload: string): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    for (const listener of entry.values()) {
      try {
        listener.onMessage(payload);
      } catch {
        // A listener's bug must not cost the other listeners their message.
      }
    }
  }

  /** Rejects every listen still waiting for confirmation (the connection was lost). */
  failPending(error: Error): void {
    for (const reject of [...this.pending]) reject(error);
  }

  /** Re-runs the loop of every channel whose state drifted (a command failed); call after a reconnect. */
  resync(): void {
    for (const [channel, entry] of this.channels) {
      if (!entry.loop && entry.subscribed !== entry.size > 0) {
        this.reconcile(channel, entry).catch((error) => this.report(error, channel));
      }
    }
  }

  /** Channels the server confirmed (what a connection must restore after reconnecting). */
  subscribedChannels(): string[] {
    return [...this.channels].filter(([, entry]) => entry.subscribed).map(([channel]) => channel);
  }

  /** Number of confirmed channels (metrics, tests). */
  get channelCount(): number {
    let count = 0;
    for (const entry of this.channels.values()) if (entry.subscribed) count++;
    return count;
  }

  /** Number of registered listeners over all channels. */
  get listenerCount(): number {
    let count = 0;
    for (const entry of this.channels.values()) count += entry.size;
    return count;
  }

  /** Forgets everything (the connection is being closed); pending listens reject. */
  clear(error: Error): void {
    this.closed = true;
    this.failPending(error);
    this.channels.clear();
  }

  private confirmed(channel: string, entry: ChannelEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => done(new SubscribeTimeoutError(`Subscription to ${channel} not confirmed within ${this.options.subscribeTimeoutMs}ms`)),
        this.options.subscribeTimeoutMs,
      );
      // Not unref'd: the caller awaits it, and must not hang if nothing else keeps the process alive.
      const done = (error?: Error) => {
        clearTimeout(timer);
        this.pending.delete(done);
        if (error) reject(error);
        else resolve();
      };
      this.pending.add(done);
      this.reconcile(channel, entry).then(() => done(), done);
    });
  }

  /** After a last unlisten: unsubscribes in the background (failures are reported by the loop). */
  reconcileLater(channel: string, entry: ChannelEntry): void {
    this.reconcile(channel, entry).catch(() => {});
  }

  /** Joins the channel's running loop or starts one; settles when `subscribed` matches `wanted`. */
  private reconcile(channel: string, entry: ChannelEntry): Promise<void> {
    if (entry.loop) return entry.loop;
    if (this.closed) return Promise.resolve();
    if (entry.subscribed === entry.size > 0) {
      this.forgetIfIdle(channel, entry);
      return Promise.resolve();
    }
    const loop = (async () => {
      try {
        // Yield first so `entry.loop` is assigned before `finally` can clear it.
        await undefined;
        for (;;) {
          if (this.closed) return;
          const wanted = entry.size > 0;
          if (wanted === entry.subscribed) return;
          try {
            if (wanted) await this.connection.subscribe(channel);
            else await this.connection.unsubscribe(channel);
            entry.subscribed = wanted;
          } catch (error) {
            // Nobody needs the change any more (e.g. a failed UNSUBSCRIBE that a listen made moot).
            if (entry.subscribed === entry.size > 0) return;
            if (!wanted) this.report(error, channel); // resync() retries it after the next reconnect
            throw error;
          }
        }
      } finally {
        // Synchronous with the last check above, so a listen arriving later starts a new loop.
        entry.loop = undefined;
        this.forgetIfIdle(channel, entry);
      }
    })();
    entry.loop = loop;
    return loop;
  }

  private forgetIfIdle(channel: string, entry: ChannelEntry): void {
    if (!entry.loop && !entry.subscribed && entry.size === 0 && this.channels.get(channel) === entry) {
      this.channels.delete(channel);
    }
  }

  private report(error: unknown, channel: string): void {
    try {
      this.options.onError?.(error, channel);
    } catch {
      // A faulty hook must not break the loop.
    }
  }
}
