import type { AbortCause } from '../errors.js';
import { executionChannel, hasChannelListener, type NotificationBackend } from '../notifications/backend.js';
import type { ExecutionState } from './types.js';

/** Execution states that end the tasks still running for it, and why. */
export const ABORTING_STATES: Partial<Record<ExecutionState, AbortCause>> = {
  cancelling: 'cancelled',
  cancelled: 'cancelled',
  timed_out: 'timed_out',
  failed: 'cancelled',
  completed: 'cancelled',
};

/**
 * A worker's listeners on the channels of the executions it runs tasks of, so a cancel or a
 * timeout reaches those tasks at once (the heartbeat catches it too, later). One listener per
 * execution, reference-counted by the tasks running for it.
 */
export class ExecutionWatchers {
  private readonly listeners = new Map<string, { count: number; stop?: () => void }>();

  constructor(
    private readonly backend: NotificationBackend | undefined,
    private readonly onAborting: (executionId: string, cause: AbortCause) => void,
  ) {}

  watch(executionId: string): void {
    const existing = this.listeners.get(executionId);
    if (existing) {
      existing.count++;
      return;
    }
    const entry: { count: number; stop?: () => void } = { count: 1 };
    this.listeners.set(executionId, entry);
    const backend = this.backend;
    if (!hasChannelListener(backend)) return;
    backend
      .listen(executionChannel(executionId), (payload) => {
        let state: ExecutionState | undefined;
        try {
          state = (JSON.parse(payload) as { state?: ExecutionState }).state;
        } catch {
          return;
        }
        const cause = state && ABORTING_STATES[state];
        if (cause) this.onAborting(executionId, cause);
      })
      .then(
        (stop) => {
          if (this.listeners.get(executionId) === entry) entry.stop = stop;
          else stop();
        },
        () => {}, // The heartbeat still catches the cancel.
      );
  }

  unwatch(executionId: string): void {
    const entry = this.listeners.get(executionId);
    if (!entry || --entry.count > 0) return;
    this.listeners.delete(executionId);
    entry.stop?.();
  }

  close(): void {
    for (const listener of this.listeners.values()) listener.stop?.();
    this.listeners.clear();
  }
}
