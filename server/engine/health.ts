import type { EngineBackend } from '../notifications/engineBackend.js';
import type { Store } from '../store/store.js';
import type { Worker, WorkerHealth } from './worker.js';
import { rejectAfter } from '../support/timers.js';

/** How long `health()` waits for the store to answer before calling it down. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 2000;

/**
 * For probes. `ok`: the store answers, the notification backend is connected and every worker
 * of this process is ready (readiness). `degraded`: the store answers, but a worker is starting
 * or draining (stop routing new work here) or notifications are down (waits poll: slower, not
 * broken). `down`: the store does not answer.
 */
export interface SenpukiHealth {
  status: 'ok' | 'degraded' | 'down';
  store: { ok: boolean; latencyMs: number; error?: string };
  /**
   * The notification backend (`redis`, `postgres`, `memory`, or `custom` for one of your own) and
   * whether it is connected; while it is not, waits poll the store (degraded, not down).
   */
  notifications: { backend: string; connected: boolean };
  workers: WorkerHealth[];
}

export async function checkHealth(
  store: Store,
  workers: Iterable<Worker>,
  notifications: EngineBackend,
  timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS,
): Promise<SenpukiHealth> {
  const startedAt = performance.now();
  let error: string | undefined;
  try {
    await rejectAfter(store.ping(), timeoutMs, `no answer within ${timeoutMs} ms`);
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught);
  }
  const latencyMs = Math.round(performance.now() - startedAt);
  const states = [...workers].map((worker) => worker.health());
  const backend = { backend: notifications.kind, connected: notifications.connected };
  const status = error !== undefined ? 'down' : states.every((worker) => worker.state === 'ready') && backend.connected ? 'ok' : 'degraded';
  return { status, store: error === undefined ? { ok: true, latencyMs } : { ok: false, latencyMs, error }, notifications: backend, workers: states };
}
