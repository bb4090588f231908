import type { AbortCause } from '../errors.js';
import { executionChannel } from '../notifications/backend.js';
import type { EngineBackend } from '../notifications/engineBackend.js';
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
 * A task that has run this long gets a listener on its execution's channel. Shorter ones never
 * subscribe: a cancel that comes meanwhile is seen when their outcome is written (or by the
 * heartbeat), and most tasks end well before this, so most executions cost no SUBSCRIBE and
 * UNSUBSCRIBE on the notification backend.
 */
export const DEFAULT_CANCEL_WATCH_DELAY_MS = 50;

interface Watch {
  count: number;
  timer?: NodeJS.Timeout;
  stop?: () => void;
}

/**
 * A worker's listeners on the channels of the executions it runs tasks of, so a cancel or a
 * timeout reaches those tasks at once (the heartbeat catches it too, later). One listener per
 * execution, reference-counted by the tasks running for it, opened once its first task has run
 * `delayMs`; once it is confirmed, the execution is read once, for a cancel sent before it.
 */
export class ExecutionWatchers {
  private readonly listeners = new Map<string, Watch>();

  constructor(
    private readonly backend: EngineBackend | undefined,
    private readonly onAborting: (executionId: string, cause: AbortCause) => void,
    private readonly readState: (executionId: string) => Promise<ExecutionState | undefined> = async () => undefined,
    private readonly delayMs = DEFAULT_CANCEL_WATCH_DELAY_MS,
  ) {}

  watch(executionId: string): void {
    const existing = this.listeners.get(executionId);
    if (existing) {
      existing.count++;
      return;
    }
    const entry: Watch = { count: 1 };
    this.listeners.set(executionId, entry);
    if (!this.backend) return;
    entry.timer = setTimeout(() => this.listen(executionId, entry), this.delayMs);
    entry.timer.unref();
  }

  private listen(executionId: string, entry: Watch): void {
    const backend = this.backend!;
    const check = (state: ExecutionState | undefined) => {
      const cause = state && ABORTING_STATES[state];
      if (cause && this.listeners.get(executionId) === entry) this.onAborting(executionId, cause);
    };
    backend
      .listen(executionChannel(executionId), (payload) => {
        let state: ExecutionState | undefined;
        try {
          state = (JSON.parse(payload) as { state?: ExecutionState }).state;
        } catch {
          return;
        }
        check(state);
      })
      .then(
        (stop) => {
          if (this.listeners.get(executionId) !== entry) return stop();
          entry.stop = stop;
          this.readState(executionId).then(check, () => {});
        },
        () => {}, // The heartbeat still catches the cancel.
      );
  }

  unwatch(executionId: string): void {
    const entry = this.listeners.get(executionId);
    if (!entry || --entry.count > 0) return;
    this.listeners.delete(executionId);
    clearTimeout(entry.timer);
    entry.stop?.();
  }

  close(): void {
    for (const listener of this.listeners.values()) {
      clearTimeout(listener.timer);
      listener.stop?.();
    }
    this.listeners.clear();
  }
}
