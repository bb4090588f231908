import { hasChannelListener, type NotificationBackend } from '../notifications/backend.js';

/**
 * Not in the spec: chunks of one stream were committed (or it was closed). Payload
 * `{"execution_id": "...", "name": "...", "seq": 12}`, a hint: readers re-read the store after
 * the seq they have. One channel per stream, so a reader is woken by its own stream only.
 */
export const streamChannel = (executionId: string, name: string): string => `senpuki:stream:${executionId}:${name}`;

/** Publishes stream hints on a backend that has raw channels; never throws (publish errors are the backend's to swallow). */
export class StreamAnnouncer {
  constructor(private readonly notifications: NotificationBackend | undefined) {}

  announce(executionId: string, name: string, seq: number): void {
    const backend = this.notifications;
    if (!hasChannelListener(backend)) return; // A spec-only backend: readers poll.
    void backend.publish(streamChannel(executionId, name), JSON.stringify({ execution_id: executionId, name, seq })).catch(() => {});
  }
}
