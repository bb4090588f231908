/**
 * What the engine reports as it works, for metrics and logs outside it (the HTTP layer turns
 * these into Prometheus metrics). Listeners are called synchronously and must be cheap; one that
 * throws is ignored, so observing can never break a worker.
 */

/** How a task's run ended, as its worker saw it. */
export type TaskRunOutcome = 'completed' | 'failed' | 'retried' | 'released' | 'abandoned';

export interface TaskStartedEvent {
  functionName: string;
  queue: string;
  attempt: number;
  /** Database time from when the task was due until its first start (first attempts only). */
  waitedMs?: number;
}

export interface TaskFinishedEvent {
  functionName: string;
  queue: string;
  outcome: TaskRunOutcome;
  /** Time the worker held the task (including waits of an orchestrator). */
  durationMs: number;
}

export interface LeasesTakenBackEvent {
  /** Tasks put back to run elsewhere. */
  requeued: number;
  /** Tasks failed for good (they had lost too many workers). */
  failed: number;
}

export interface EngineEvents {
  taskStarted?(event: TaskStartedEvent): void;
  taskFinished?(event: TaskFinishedEvent): void;
  leasesTakenBack?(event: LeasesTakenBackEvent): void;
}

/** The listeners of one engine; `emit` never throws. */
export class EngineEventHub {
  private readonly listeners = new Set<EngineEvents>();

  /** Adds listeners; returns the function that removes them. */
  add(listeners: EngineEvents): () => void {
    this.listeners.add(listeners);
    return () => this.listeners.delete(listeners);
  }

  emit<K extends keyof EngineEvents>(name: K, event: Parameters<NonNullable<EngineEvents[K]>>[0]): void {
    for (const listeners of this.listeners) {
      try {
        (listeners[name] as ((event: unknown) => void) | undefined)?.(event);
      } catch {
        // Observing must never break the engine.
      }
    }
  }
}
