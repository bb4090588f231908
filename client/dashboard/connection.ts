/**
 * The connection indicator. The SDK reconnects on its own but does not report its socket's state,
 * so the dashboard hands it a WebSocket class that tells us when a socket opens and closes:
 *
 *   connecting ──open──▶ live ──close──▶ reconnecting ──open──▶ live
 *
 * The shell keeps one subscription open all the time, so the socket only closes when the
 * connection is lost, never because the page went idle.
 */
import { h } from './dom.js';

export type ConnectionStatus = 'connecting' | 'live' | 'reconnecting';

const LABELS: Record<ConnectionStatus, string> = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…' };

/** Tracks the socket's state and draws it. */
export class ConnectionIndicator {
  readonly element: HTMLElement;
  private status: ConnectionStatus = 'connecting';
  private pulseTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.element = h('span', { class: 'connection', role: 'status', 'aria-live': 'polite' });
    this.render();
  }

  /** A WebSocket class for `createSenpukiClient({ webSocketImpl })` that reports to this indicator. */
  webSocketClass(): typeof WebSocket {
    const indicator = this;
    return class TrackedWebSocket extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        this.addEventListener('open', () => indicator.set('live'));
        this.addEventListener('close', () => indicator.set('reconnecting'));
      }
    };
  }

  /** Flashes the dot: a change just arrived. */
  pulse(): void {
    this.element.classList.add('pulse');
    clearTimeout(this.pulseTimer);
    this.pulseTimer = setTimeout(() => this.element.classList.remove('pulse'), 600);
  }

  private set(status: ConnectionStatus): void {
    if (status === this.status) return;
    this.status = status;
    this.render();
  }

  private render(): void {
    this.element.dataset.status = this.status;
    this.element.title =
      this.status === 'live'
        ? 'Connected: changes arrive as they happen'
        : this.status === 'reconnecting'
          ? 'The connection dropped; reconnecting (the views resume without gaps once it is back)'
          : 'Connecting to the server…';
    this.element.replaceChildren(h('span', { class: 'dot' }), LABELS[this.status]);
  }
}
