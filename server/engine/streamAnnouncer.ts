import type { EngineBackend } from '../notifications/engineBackend.js';

/**
 * Not in the spec: chunks of a stream of this execution were committed (or it was closed).
 * Payload `{"execution_id": "...", "name": "...", "seq": 12}`, a hint: readers of that stream
 * re-read the store after the seq they have. One channel per execution, not per stream: Postgres
 * NOTIFY channel names hold at most 63 bytes, and a stream's name alone may have 200.
 */
export const streamsChannel = (executionId: string): string => `senpuki:streams:${executionId}`;

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
