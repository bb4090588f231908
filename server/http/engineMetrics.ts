/**
 * The engine's metrics in Prometheus form: tasks started and finished by function and outcome,
 * how long tasks wait to start and run, leases taken back from dead workers, the depth of each
 * queue (sampled in the background with a bounded count, never counted per scrape), and whether
 * the notification backend is connected. Fed by `senpuki.observe(...)`; shared by the API
 * server's /metrics and a worker process's metrics port.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Senpuki } from '../engine/senpuki.js';

/** How often queue depths are sampled. */
export const DEFAULT_QUEUE_DEPTH_INTERVAL_MS = 15_000;
/** Queue depths are counted up to this (a walk of at most this many index entries per queue). */
export const DEFAULT_QUEUE_DEPTH_CAP = 100_000;

const SECONDS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800];

export interface EngineMetricsOptions {
  queueDepthIntervalMs?: number;
  queueDepthCap?: number;
}

/** Registers the engine's metrics on `registry`; returns the function that stops sampling and listening. */
export function registerEngineMetrics(registry: Registry, senpuki: Senpuki, options: EngineMetricsOptions = {}): () => void {
  const started = new Counter({ name: 'senpuki_tasks_started_total', help: 'Task runs started by this process, by function', labelNames: ['function'], registers: [registry] });
  const finished = new Counter({
    name: 'senpuki_tasks_finished_total',
    help: 'Task runs ended by this process, by function and outcome (completed, failed, retried, released, abandoned)',
    labelNames: ['function', 'outcome'],
    registers: [registry],
  });
  const waited = new Histogram({
    name: 'senpuki_task_start_delay_seconds',
    help: 'From when a task was due (dispatched, or its delay over) to its first start, by database time',
    labelNames: ['function'],
    buckets: SECONDS,
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'senpuki_task_duration_seconds',
    help: 'How long a worker held a task run (an orchestrator includes its waits), by function and outcome',
    labelNames: ['function', 'outcome'],
    buckets: SECONDS,
    registers: [registry],
  });
  const takenBack = new Counter({
    name: 'senpuki_leases_taken_back_total',
    help: 'Tasks taken back from workers that died or went silent: requeued, or failed for good after too many losses',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const depth = new Gauge({
    name: 'senpuki_queue_depth',
    help: `Due pending tasks per queue (sampled; counts stop at ${options.queueDepthCap ?? DEFAULT_QUEUE_DEPTH_CAP})`,
    labelNames: ['queue'],
    registers: [registry],
  });
  new Gauge({
    name: 'senpuki_notifications_connected',
    help: 'Whether the notification backend is connected (0: waits poll the store until it is back)',
    registers: [registry],
    collect() {
      this.set(senpuki.notifications.connected ? 1 : 0);
    },
  });

  const stopObserving = senpuki.observe({
    taskStarted(event) {
      started.inc({ function: event.functionName });
      if (event.waitedMs !== undefined) waited.observe({ function: event.functionName }, event.waitedMs / 1000);
    },
    taskFinished(event) {
      finished.inc({ function: event.functionName, outcome: event.outcome });
      durations.observe({ function: event.functionName, outcome: event.outcome }, event.durationMs / 1000);
    },
    leasesTakenBack(event) {
      if (event.requeued) takenBack.inc({ outcome: 'requeued' }, event.requeued);
      if (event.failed) takenBack.inc({ outcome: 'failed' }, event.failed);
    },
  });

  const cap = options.queueDepthCap ?? DEFAULT_QUEUE_DEPTH_CAP;
  const sample = async () => {
    try {
      const queues = new Set(['default', ...senpuki.registry.list().map((fn) => fn.queue)]);
      for (const worker of await senpuki.liveWorkers()) for (const queue of worker.queues) queues.add(queue);
      const counts = await senpuki.store.countDueTasksByQueue([...queues], cap);
      depth.reset();
      for (const [queue, count] of counts) depth.set({ queue }, count);
    } catch {
      // A missed sample; the gauge keeps the last one.
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), options.queueDepthIntervalMs ?? DEFAULT_QUEUE_DEPTH_INTERVAL_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    stopObserving();
  };
}
