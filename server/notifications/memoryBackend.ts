import { ChannelBackend } from './channelBackend.js';

/** In-process notifications: one process, no network. The default of `npm start`. */
export class MemoryBackend extends ChannelBackend {
  readonly kind = 'memory';
  /** Reaches listeners in this process only. */
  override readonly scope = 'process';
  private readonly listeners = new Map<string, Set<(payload: string) => void>>();
  private closed = false;

  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => void> {
    let set = this.listeners.get(channel);
    if (!set) this.listeners.set(channel, (set = new Set()));
    // Wrap so the same callback may listen twice and be removed once per registration.
    const entry = (payload: string) => onMessage(payload);
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.listeners.get(channel) === set) this.listeners.delete(channel);
    };
  }

  protected async publishRaw(channel: string, payload: string): Promise<void> {
    if (this.closed) return;
    const set = this.listeners.get(channel);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch {
        // One faulty listener must not stop delivery to the others.
      }
    }
  }

  /** Number of channels with at least one listener (for tests and metrics). */
  get subscribedChannelCount(): number {
    return this.listeners.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }
}
