import { streamsChannel } from '../notifications/channels.js';
import type { EngineBackend } from '../notifications/engineBackend.js';

/**
 * Stream hints on `streamsChannel`: payload `{"execution_id": "...", "name": "...", "seq": 12}`;
 * readers of that stream re-read the store after the seq they have.
 */

/** The stream a message on `streamsChannel` is about; undefined for anything else. */
export function streamOfMessage(payload: string): string | undefined {
  try {
    const name = (JSON.parse(payload) as { name?: unknown } | null)?.name;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined; // A foreign publisher on our channel must not break readers.
  }
}

/** Publishes stream hints; never throws (publish errors are the backend's to swallow). */
export class StreamAnnouncer {
  constructor(private readonly notifications: EngineBackend | undefined) {}

  announce(executionId: string, name: string, seq: number): void {
    const backend = this.notifications;
    void backend?.publish(streamsChannel(executionId), JSON.stringify({ execution_id: executionId, name, seq })).catch(() => {});
  }
}
