/**
 * A worker claims runnable tasks and runs them, up to `concurrency` at once.
 *
 *   starting ──► ready ──stop()──► draining ──► stopped
 *
 * ready:    claim while slots are free; when idle, sleep until a wake-up (a dispatch announced on
 *           the notification backend or in-process), the next delayed task, or a poll tick.
 * draining: claim nothing; running tasks get `drainTimeoutMs` to finish; tasks only waiting (on
 *           children, sleeps, signals) and those still running after the timeout are handed
 *           back, and another worker resumes them without re-running their completed steps.
 *
 * Alongside: a heartbeat renews the leases of every task held here and aborts tasks whose
 * execution was cancelled or timed out, or whose lease was lost; a maintenance tick takes back
 * expired leases of dead workers, times out executions past their deadline and, when retention
 * is configured, removes old rows (one worker at a time).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { TaskAbortedError, type AbortCause } from '../errors.js';
import { WORKER_WAKE_CHANNEL } from '../notifications/channels.js';
import { decodeWakeUp } from '../notifications/wakeUps.js';
import type { EngineBackend } from '../notifications/engineBackend.js';
import type { TaskRuntime } from './context.js';
import { ABORTING_STATES, ExecutionWatchers } from './executionWatchers.js';
import { RetentionRunner, toRetentionPolicy, type RetentionOptions } from './retention.js';
import { delay, delayOrWake, settleWithin, yieldToEventLoop } from '../support/timers.js';
import { Semaphore } from './semaphore.js';
import type { EngineEventHub } from './events.js';
import { runTask, type RunningTask } from './taskRunner.js';
import { TaskSettler } from './taskSettler.js';
import { WorkSignal } from './workSignal.js';
import { DEFAULT_MAX_LEASE_LOSSES, DEFAULT_WORKER_PRESENCE_INTERVAL_MS, type Changes, type ClaimedTask, type DispatchLease, type WorkerPresence } from '../store/store.js';
import type { TaskRecord } from '../domain/types.js';
import type { PollOptions } from '../realtime/changeFeed.js';

export const DEFAULT_CONCURRENCY = 10;
export const DEFAULT_LEASE_MS = 30_000;
export const DEFAULT_MAINTENANCE_INTERVAL_MS = 1000;
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_SUSPENDED = 10_000;

export interface WorkerOptions {
  /** Tasks run at once (waiting orchestrators do not count). Default 10. */
  concurrency?: number;
  /** Queues to take tasks from. Default: the queues of the registered functions. */
  queues?: string[];
  /** Take only tasks sharing one of these tags. Default: any task. */
  tags?: string[];
  /** How long a claimed task stays ours without a heartbeat. Default 30 s. */
  leaseMs?: number;
  /** Default leaseMs / 3. */
  heartbeatIntervalMs?: number;
  maintenanceIntervalMs?: number;
  /** How long `stop()` lets running tasks finish before handing them back. Default 30 s. */
  drainTimeoutMs?: number;
  /** Orchestrators that may wait in memory at once. Default 10,000. */
  maxSuspended?: number;
  workerId?: string;
  /** Removes old executions, dead letters and idempotency keys (default: the Senpuki's `retention`). */
  retention?: RetentionOptions;
  /** Times a task may be taken back from a dead worker before the next loss fails it for good (default 2). */
  maxLeaseLosses?: number;
}

export type WorkerState = 'starting' | 'ready' | 'draining' | 'stopped';

/** A dispatch a worker takes at once, its slot held meanwhile (see `Worker.takeDispatch`). */
export interface TakenDispatch {
  /** What the dispatch writes on the root task. */
  lease: DispatchLease;
  /** The dispatch committed with the task leased to this worker: run it. */
  start(task: TaskRecord): void;
  /** Nothing was leased (an idempotency key already taken, a failed write): the slot goes back. */
  decline(): void;
}

export interface WorkerHealth {
  workerId: string;
  state: WorkerState;
  running: number;
  suspended: number;
  freeSlots: number;
  lastError: string | undefined;
}

export interface WorkerDeps {
  runtime: Omit<TaskRuntime, 'suspend' | 'workerId'>;
  events: EngineEventHub;
  notifications: EngineBackend | undefined;
  pushReachesAllWriters: boolean;
  poll: PollOptions;
  logger: Logger;
  functionNames: () => string[];
  defaultQueues: () => string[];
  /** Told once the worker has stopped (its engine stops reporting it). */
  onStopped?: (worker: Worker) => void;
}

export class Worker {
  readonly id: string;
  private stateValue: WorkerState = 'starting';
  private readonly slots: Semaphore;
  private readonly running = new Map<string, RunningTask>();
  private readonly executions: ExecutionWatchers;
  private readonly options: Required<Omit<WorkerOptions, 'tags' | 'workerId' | 'retention'>> & { tags?: string[] };
  /** Aborted once the worker has given up on its tasks: their outcome writes stop retrying. */
  private readonly stopped = new AbortController();
  private presence: WorkerPresence | undefined;
  /** When leases were last renewed (performance.now()): past `leaseMs` without, they may belong to another worker. */
  private lastRenewedAt = performance.now();
  private readonly retention: RetentionRunner | undefined;
  private readonly settler: TaskSettler;
  private nudged = false;
  private readonly work = new WorkSignal(() => this.wakeLoop());
  private wake: (() => void) | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopWakeListener: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private lastError: string | undefined;
  /** The maintenance tick under way, if any. */
  private maintenance: Promise<void> | undefined;

  constructor(private readonly deps: WorkerDeps, options: WorkerOptions = {}) {
    this.id = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.options = {
      concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      queues: options.queues ?? deps.defaultQueues(),
      tags: options.tags,
      leaseMs,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? Math.max(50, Math.floor(leaseMs / 3)),
      maintenanceIntervalMs: options.maintenanceIntervalMs ?? DEFAULT_MAINTENANCE_INTERVAL_MS,
      drainTimeoutMs: options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
      maxSuspended: options.maxSuspended ?? DEFAULT_MAX_SUSPENDED,
      maxLeaseLosses: options.maxLeaseLosses ?? DEFAULT_MAX_LEASE_LOSSES,
    };
    this.slots = new Semaphore(this.options.concurrency, () => this.work.slotFreed());
    this.settler = new TaskSettler(deps.runtime.store, this.id, () => {
      for (const task of this.running.values()) if (task.executing) return true;
      return false;
    });
    const retention = toRetentionPolicy(options.retention);
    this.retention = retention && new RetentionRunner(retention);
    this.executions = new ExecutionWatchers(
      deps.notifications,
      (executionId, cause) => this.abortExecution(executionId, cause),
      async (executionId) => (await deps.runtime.feed.readExecution(executionId))?.state,
    );
  }

  get state(): WorkerState {
    return this.stateValue;
  }

  /** Starts claiming; resolves once the wake-up subscription is in place. */
  async start(): Promise<this> {
    if (this.stateValue !== 'starting') return this;
    await this.listenForWakeUps();
    if (this.stateValue !== 'starting') {
      // stop() came while we were subscribing: stay stopped.
      this.stopWakeListener?.();
      return this;
    }
    this.stateValue = 'ready';
    this.timers.push(setInterval(() => void this.heartbeat(), this.options.heartbeatIntervalMs));
    await this.startPresence();
    this.scheduleMaintenance();
    this.loop = this.claimLoop();
    return this;
  }

  /**
   * Records this worker and takes the lock that shows it alive, so its tasks are taken back within
   * seconds should its process die. A store that is down now delays that, not the worker: the
   * presence beat keeps trying.
   */
  private async startPresence(): Promise<void> {
    const presence = await this.deps.runtime.store.workerPresence({
      id: this.id,
      host: hostname(),
      pid: process.pid,
      queues: this.options.queues,
      tags: this.options.tags,
      concurrency: this.options.concurrency,
      functions: this.deps.functionNames(),
    });
    this.presence = presence;
    let failing = false;
    const beat = async (first: boolean) => {
      try {
        const { running, suspended } = this.health();
        await (first ? presence.start() : presence.beat({ running, suspended, functions: this.deps.functionNames() }));
        if (failing) this.deps.logger.info({ workerId: this.id }, 'worker presence recorded again');
        failing = false;
      } catch (error) {
        if (!failing) this.noteError(error, 'recording worker presence failed; retrying every second');
        failing = true;
      }
    };
    await beat(true);
    const timer = setInterval(() => void beat(false), DEFAULT_WORKER_PRESENCE_INTERVAL_MS);
    timer.unref();
    this.timers.push(timer);
  }

  /** Subscribes to dispatch wake-ups; while that fails, the loop polls and retries the subscription. */
  private async listenForWakeUps(): Promise<void> {
    const backend = this.deps.notifications;
    if (!backend || this.isStopping()) return;
    try {
      const ownOrigin = this.deps.runtime.announcer.origin;
      const stop = await backend.listen(WORKER_WAKE_CHANNEL, (payload) => {
        const wakeUp = decodeWakeUp(payload);
        // This engine's own dispatches nudged us in-process already.
        if (wakeUp && wakeUp.origin !== ownOrigin) this.nudge(wakeUp.queue);
      });
      if (this.isStopping()) return stop();
      this.stopWakeListener = stop;
    } catch (error) {
      this.noteError(error, 'wake-up subscription failed; polling instead');
      const retry = setTimeout(() => {
        this.timers = this.timers.filter((timer) => timer !== retry);
        void this.listenForWakeUps();
      }, this.deps.poll.pollMaxIntervalMs);
      retry.unref();
      this.timers.push(retry);
    }
  }

  private isStopping(): boolean {
    return this.stateValue === 'draining' || this.stateValue === 'stopped';
  }

  /**
   * Takes a dispatch made in this process before it is written, when this worker would claim it
   * the moment it committed: the worker is ready, serves the task's queue, tags and function (one
   * without a concurrency limit), holds a free slot for it, and its last claim left nothing else
   * waiting (so nothing of a higher priority is passed over). The dispatch then writes the task
   * leased to this worker, and the claim's statement and commit are saved.
   */
  takeDispatch(task: { queue: string; tags: string[]; functionName: string }): TakenDispatch | undefined {
    if (this.stateValue !== 'ready' || !this.work.idle || !this.options.queues.includes(task.queue)) return undefined;
    const { tags } = this.options;
    if (tags?.length && !task.tags.some((tag) => tags.includes(tag))) return undefined;
    const definition = this.deps.runtime.registry.get(task.functionName);
    if (!definition || definition.maxConcurrent !== undefined) return undefined;
    if (this.running.size >= this.options.maxSuspended + this.options.concurrency || !this.slots.tryAcquire()) return undefined;
    let settled = false;
    return {
      lease: { workerId: this.id, leaseMs: this.options.leaseMs },
      start: (claimed) => {
        if (settled) return;
        settled = true;
        this.runClaimed({ ...claimed, executionStarted: true }, true);
      },
      decline: () => {
        if (settled) return;
        settled = true;
        this.slots.release();
      },
    };
  }

  /** The run of the execution's root task on this worker, while there is one. */
  rootRunOf(executionId: string): RunningTask | undefined {
    for (const run of this.running.values()) {
      if (run.task.executionId === executionId && run.task.parentTaskId === undefined) return run;
    }
    return undefined;
  }

  /** Wakes an idle claim loop (a task became runnable in one of our queues). */
  nudge(queue?: string): void {
    if (queue !== undefined && !this.options.queues.includes(queue)) return;
    this.work.announced();
  }

  private wakeLoop(): void {
    this.nudged = true;
    this.wake?.();
  }

  health(): WorkerHealth {
    let suspended = 0;
    for (const task of this.running.values()) if (task.suspended) suspended++;
    return {
      workerId: this.id,
      state: this.stateValue,
      running: this.running.size - suspended,
      suspended,
      freeSlots: this.slots.available,
      lastError: this.lastError,
    };
  }

  /** Drains and stops; safe to call twice (both calls wait for the same stop). */
  stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    this.stopping ??= this.drain(options.drainTimeoutMs ?? this.options.drainTimeoutMs).finally(() => this.deps.onStopped?.(this));
    return this.stopping;
  }

  private async drain(drainTimeoutMs: number): Promise<void> {
    if (this.stateValue === 'starting') this.stateValue = 'stopped';
    if (this.stateValue === 'stopped') return;
    this.stateValue = 'draining';
    this.nudge();
    await this.loop;
    // Waiting orchestrators hand back at once; running tasks get the drain timeout.
    for (const task of this.running.values()) if (task.suspended) this.abort(task, 'shutdown');
    const deadline = Date.now() + drainTimeoutMs;
    while (this.running.size > 0 && Date.now() < deadline) {
      await settleWithin(Promise.race([...this.running.values()].map((task) => task.done)), Math.min(200, drainTimeoutMs));
      for (const task of this.running.values()) if (task.suspended) this.abort(task, 'shutdown');
    }
    for (const task of this.running.values()) this.abort(task, 'shutdown');
    await settleWithin(Promise.allSettled([...this.running.values()].map((task) => task.done)), 5000);
    this.stopped.abort();
    for (const timer of this.timers) clearInterval(timer);
    // A tick under way finishes before the caller may close the store under it.
    await this.maintenance;
    this.stopWakeListener?.();
    this.executions.close();
    await this.presence?.stop().catch((error: unknown) => this.noteError(error, 'removing the worker record failed'));
    this.stateValue = 'stopped';
  }

  private async claimLoop(): Promise<void> {
    let idleMs = this.deps.poll.pollMinIntervalMs;
    /** The last claim's announcement, made once the next claim is on its way (or the loop goes idle). */
    let unannounced: Changes | undefined;
    const announceClaimed = () => {
      if (unannounced) void this.deps.runtime.announcer.announce(unannounced);
      unannounced = undefined;
    };
    while (this.stateValue === 'ready') {
      this.nudged = false;
      const limit = Math.min(this.slots.available, this.options.maxSuspended + this.options.concurrency - this.running.size);
      let claimedAll = false;
      if (limit > 0) {
        try {
          const claiming = this.work.claim(limit, () =>
            this.deps.runtime.store.claimTasks({
              workerId: this.id,
              queues: this.options.queues,
              tags: this.options.tags,
              functionNames: this.deps.functionNames(),
              limits: this.concurrencyLimits(),
              limit,
              leaseMs: this.options.leaseMs,
            }),
          );
          announceClaimed();
          const claimed = await claiming;
          for (const task of claimed) this.runClaimed(task);
          unannounced = {
            tasks: claimed.map((task) => ({ id: task.id, state: task.state, executionId: task.executionId })),
            executions: claimed.filter((task) => task.executionStarted).map((task) => ({ id: task.executionId, state: 'running' as const })),
            wakeQueues: [],
          };
          if (claimed.length > 0) idleMs = this.deps.poll.pollMinIntervalMs;
          claimedAll = claimed.length === limit;
        } catch (error) {
          this.noteError(error, 'claiming tasks failed');
        }
      } else announceClaimed();
      if (claimedAll || this.nudged || this.stateValue !== 'ready') {
        // The embedded store answers in microtasks: without a turn of the event loop between
        // claims, a backlog would be drained without ever letting timers, I/O or the batched
        // writes and announcements (which wait for the next turn) run.
        await yieldToEventLoop();
        continue;
      }
      announceClaimed();
      // Push may stand in for polling only while the backend is connected: wake-ups sent during an outage are lost.
      const pushed = this.deps.pushReachesAllWriters && this.stopWakeListener !== undefined && (this.deps.notifications?.connected ?? false);
      let waitMs = pushed ? this.deps.poll.pollMaxIntervalMs : idleMs;
      if (limit > 0) {
        const dueMs = await this.deps.runtime.store
          .msUntilNextDue({
            queues: this.options.queues,
            functionNames: this.deps.functionNames(),
            tags: this.options.tags,
            limitedFunctions: Object.keys(this.concurrencyLimits()),
          })
          .catch(() => undefined);
        // Due now yet not claimed: another worker is taking it; look again soon, without spinning.
        if (dueMs !== undefined) waitMs = Math.min(waitMs, dueMs > 0 ? Math.ceil(dueMs) : this.deps.poll.pollMinIntervalMs);
      }
      await this.idle(waitMs);
      if (!this.nudged) idleMs = Math.min(this.deps.poll.pollMaxIntervalMs, idleMs * this.deps.poll.pollBackoffFactor);
    }
    announceClaimed();
  }

  /** `maxConcurrent` of the registered functions that declare one. */
  private concurrencyLimits(): Record<string, number> {
    const limits: Record<string, number> = {};
    for (const fn of this.deps.runtime.registry.list()) if (fn.maxConcurrent !== undefined) limits[fn.name] = fn.maxConcurrent;
    return limits;
  }

  private idle(ms: number): Promise<void> {
    if (this.nudged) return Promise.resolve();
    return delayOrWake(ms, (wake) => (this.wake = wake)).finally(() => (this.wake = undefined));
  }

  /** Runs a task claimed (or taken at dispatch) for this worker; `slotHeld` when its slot is taken already. */
  private runClaimed(task: ClaimedTask, slotHeld = false): void {
    // A waiting orchestrator may have taken its slot back between the claim and now: then this
    // task waits for the next free slot (its lease is renewed meanwhile) rather than overshoot.
    const running = runTask(
      { runtime: { ...this.deps.runtime, workerId: this.id }, settler: this.settler, slots: this.slots, logger: this.deps.logger, stopped: this.stopped.signal },
      task,
      slotHeld || this.slots.tryAcquire(),
    );
    this.running.set(task.id, running);
    this.executions.watch(task.executionId);
    const { events } = this.deps;
    const startedAt = performance.now();
    const waitedMs = task.attempt === 1 && task.startedAt ? Math.max(0, task.startedAt.getTime() - task.scheduledFor.getTime()) : undefined;
    events.emit('taskStarted', { functionName: task.functionName, queue: task.queue, attempt: task.attempt, waitedMs });
    // A cancel can only interrupt the function: once it has returned, the write of its outcome sees the cancel.
    void running.executed.finally(() => this.executions.unwatch(task.executionId));
    void running.done.finally(() => {
      this.running.delete(task.id);
      events.emit('taskFinished', { functionName: task.functionName, queue: task.queue, outcome: running.outcome ?? 'abandoned', durationMs: performance.now() - startedAt });
    });
  }

  private abortExecution(executionId: string, cause: AbortCause): void {
    for (const task of this.running.values()) if (task.task.executionId === executionId) this.abort(task, cause);
  }

  private abort(task: RunningTask, cause: AbortCause): void {
    if (!task.controller.signal.aborted) task.controller.abort(new TaskAbortedError(cause));
  }

  private async heartbeat(): Promise<void> {
    const ids = [...this.running.keys()];
    if (ids.length === 0) {
      this.lastRenewedAt = performance.now();
      return;
    }
    try {
      const { held } = await this.deps.runtime.store.renewLeases(this.id, ids, this.options.leaseMs);
      this.lastRenewedAt = performance.now();
      for (const id of ids) {
        const task = this.running.get(id);
        if (!task) continue; // Finished meanwhile.
        const executionState = held.get(id);
        if (executionState === undefined) this.abort(task, 'lease_lost');
        else if (ABORTING_STATES[executionState]) this.abort(task, ABORTING_STATES[executionState]!);
      }
    } catch (error) {
      this.noteError(error, 'renewing leases failed');
      // Unrenewed for a whole lease, our tasks may have been taken back and be running elsewhere:
      // stop them rather than run side by side (their writes would be fenced off anyway).
      if (performance.now() - this.lastRenewedAt > this.options.leaseMs) {
        for (const id of ids) {
          const task = this.running.get(id);
          if (task) this.abort(task, 'lease_lost');
        }
      }
    }
  }

  private scheduleMaintenance(): void {
    if (this.stateValue !== 'ready') return;
    const jitter = 0.8 + Math.random() * 0.4; // Spread the ticks of many workers.
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== timer);
      this.maintenance = this.maintain().finally(() => {
        this.maintenance = undefined;
        this.scheduleMaintenance();
      });
    }, this.options.maintenanceIntervalMs * jitter);
    this.timers.push(timer);
  }

  /** One maintenance tick (see the module comment); failures are noted, never thrown. */
  private async maintain(): Promise<void> {
    try {
      const { store, announcer } = this.deps.runtime;
      const reaped = await store.reapExpiredLeases({ maxLeaseLosses: this.options.maxLeaseLosses });
      await announcer.announce(reaped);
      const requeued = reaped.tasks.filter((task) => task.state === 'pending').length;
      const failed = reaped.tasks.filter((task) => task.state === 'failed').length;
      if (requeued + failed > 0) this.deps.events.emit('leasesTakenBack', { requeued, failed });
      await store.removeDeadWorkers();
      await announcer.announce(await store.timeOutExpired());
      await announcer.announce(await store.settleStalledCancellations());
      await this.retention?.tick(store);
    } catch (error) {
      this.noteError(error, 'maintenance failed');
    }
  }

  private noteError(error: unknown, message: string): void {
    this.lastError = `${message}: ${error instanceof Error ? error.message : String(error)}`;
    this.deps.logger.warn({ err: error, workerId: this.id }, message);
  }
}
