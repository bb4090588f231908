import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { TaskAbortedError, toStoredError } from '../errors.js';
import type { ClaimedTask, TaskOutcome } from '../store/store.js';
import { TaskContext, type TaskRuntime } from './context.js';
import type { TaskRunOutcome } from './events.js';
import { SpanKind, contextOf, failSpan, inSpan } from './tracing.js';
import { argsHash } from './resultCache.js';
import { isTransientStoreError, retryTransient } from '../store/transientErrors.js';
import { isRetryable, taskRetryDelayMs } from './retry.js';
import type { Semaphore } from './semaphore.js';
import type { TaskSettler } from './taskSettler.js';
import { toJson } from './validation.js';

const RUN_OUTCOMES: Record<TaskOutcome['kind'], TaskRunOutcome> = { completed: 'completed', failed: 'failed', retry: 'retried', released: 'released' };

/** A task this worker is running, with what it takes to abort it. */
export interface RunningTask {
  task: ClaimedTask;
  controller: AbortController;
  /** True while every wait of the task is pending (it holds no slot). */
  readonly suspended: boolean;
  /** True while its function runs and is not only waiting: it may finish in this turn of the event loop. */
  readonly executing: boolean;
  /** Settles when the function has returned (or thrown), before its outcome is written. */
  executed: Promise<void>;
  /** Settles when the task's outcome has been written (or fenced off). */
  done: Promise<void>;
  /** How the run ended, once `done` settles (`abandoned`: the lease was lost, nothing written). */
  outcome?: TaskRunOutcome;
}

/**
 * Holds a task's concurrency slot, and lets go of it while the task only waits (for children,
 * a sleep, a signal): a worker with one slot can still run an orchestrator and its children.
 */
class TaskSlot {
  private waits = 0;
  private acquiring: Promise<void> | undefined;
  private finished = false;

  constructor(
    private readonly slots: Semaphore,
    private held: boolean,
  ) {}

  get suspended(): boolean {
    return !this.held && this.waits > 0;
  }

  /** Resolves once the task holds a slot again (or no longer needs one). */
  acquire(): Promise<void> {
    if (this.held || this.finished) return Promise.resolve();
    this.acquiring ??= this.slots.acquire().then(() => {
      this.acquiring = undefined;
      // Not needed any more: the task ended, or another of its branches began waiting meanwhile
      // (keeping the slot then would hold it through that wait, and a one-slot worker would stall).
      if (this.finished || this.waits > 0) this.slots.release();
      else this.held = true;
    });
    return this.acquiring;
  }

  async suspend<T>(wait: Promise<T>): Promise<T> {
    if (++this.waits === 1 && this.held) {
      this.held = false;
      this.slots.release();
    }
    try {
      return await wait;
    } finally {
      if (--this.waits === 0) await this.acquire();
    }
  }

  release(): void {
    this.finished = true;
    if (this.held) {
      this.held = false;
      this.slots.release();
    }
  }
}

export interface RunTaskDeps {
  runtime: Omit<TaskRuntime, 'suspend'>;
  /** Writes outcomes, batched with the other tasks of this worker that finish at the same time. */
  settler: TaskSettler;
  slots: Semaphore;
  logger: Logger;
  /** Aborted when the worker gives up on its tasks (stopped): writing an outcome is no longer retried. */
  stopped: AbortSignal;
}

/**
 * Runs one claimed task to its outcome and writes it, fenced by the lease. `slotHeld` says whether
 * the caller already took a slot for it; if not, the task waits for one before it starts. The
 * slot is given back when the task ends.
 */
export function runTask(deps: RunTaskDeps, task: ClaimedTask, slotHeld: boolean): RunningTask {
  const controller = new AbortController();
  // Every pending child wait listens on the task's signal; a fan-out over thousands is normal.
  setMaxListeners(0, controller.signal);
  const slot = new TaskSlot(deps.slots, slotHeld);
  let returned = false;
  const running: RunningTask = {
    task,
    controller,
    get suspended() {
      return slot.suspended;
    },
    get executing() {
      return !returned && !slot.suspended;
    },
    executed: Promise.resolve(),
    done: Promise.resolve(),
  };
  let markExecuted!: () => void;
  running.executed = new Promise<void>((resolve) => (markExecuted = resolve));
  running.done = (async () => {
    let outcome: TaskOutcome | undefined;
    try {
      await slot.acquire();
      outcome = await traced(task, () => execute(deps, task, controller.signal, slot));
      running.outcome = outcome ? RUN_OUTCOMES[outcome.kind] : 'abandoned';
    } finally {
      // The function is done: its slot may run the next task while this outcome is written (the
      // task stays running, leased and heartbeated, in the store and here until it is).
      returned = true;
      slot.release();
      markExecuted();
    }
    if (outcome) await settle(deps, task, outcome);
    const definition = deps.runtime.registry.get(task.functionName);
    // A slot of a limited function came free: wake the workers that may have rows waiting for it.
    if (definition?.maxConcurrent !== undefined) {
      await deps.runtime.announcer.announce({ tasks: [], executions: [], wakeQueues: [task.queue] });
    }
  })();
  return running;
}

/**
 * A span for one run of a task, continuing the trace of the dispatch or call that made it (from
 * the task row); the function's own calls become its children. An outcome other than completed
 * marks it failed.
 */
function traced(task: ClaimedTask, run: () => Promise<TaskOutcome | undefined>): Promise<TaskOutcome | undefined> {
  const attributes = {
    'senpuki.function': task.functionName,
    'senpuki.execution_id': task.executionId,
    'senpuki.task_id': task.id,
    'senpuki.attempt': task.attempt,
    'senpuki.queue': task.queue,
  };
  return inSpan(`senpuki.task ${task.functionName}`, { kind: SpanKind.CONSUMER, parent: contextOf(task.traceContext), attributes }, async (span) => {
    const outcome = await run();
    span.setAttribute('senpuki.outcome', outcome ? RUN_OUTCOMES[outcome.kind] : 'abandoned');
    if (outcome?.kind === 'retry' || outcome?.kind === 'failed') failSpan(span, Object.assign(new Error(outcome.error.message), { name: outcome.error.name }));
    return outcome;
  });
}

async function execute(
  deps: RunTaskDeps,
  task: ClaimedTask,
  signal: AbortSignal,
  slot: TaskSlot,
): Promise<TaskOutcome | undefined> {
  const definition = deps.runtime.registry.get(task.functionName);
  let outcome: TaskOutcome;
  try {
    if (!definition) throw new Error(`No durable function named "${task.functionName}" is registered on this worker`);
    const cache = definition.cache && { argsHash: argsHash(task.args), ttlMs: definition.cache.ttlMs };
    const hit = cache && (await deps.runtime.store.getCachedResult(task.functionName, cache.argsHash));
    if (hit) return { kind: 'completed', result: hit.result };
    const context = new TaskContext({ ...deps.runtime, suspend: (wait) => slot.suspend(wait), logger: deps.logger }, task, signal);
    let result: unknown;
    let returned = false;
    try {
      result = await definition.body(context, ...task.args);
      returned = true;
    } finally {
      await context.flushProgress();
      await context.finishStreams(returned);
    }
    const json = toJson(result === undefined ? null : result, `${task.functionName} result`);
    outcome = cache ? { kind: 'completed', result: json, cache } : { kind: 'completed', result: json };
  } catch (error) {
    const stored = toStoredError(error);
    outcome =
      definition && !signal.aborted && isRetryable(definition.retry, error, task.attempt)
        ? { kind: 'retry', error: stored, delayMs: taskRetryDelayMs(definition.retry, task.attempt) }
        : { kind: 'failed', error: stored };
  }
  // Whatever the function did after its signal was aborted, the abort decides: a task taken over
  // by another worker writes nothing; one interrupted by shutdown is handed back unfinished.
  if (signal.aborted) {
    const cause = signal.reason instanceof TaskAbortedError ? signal.reason.cause_ : 'cancelled';
    if (cause === 'lease_lost') return undefined;
    if (cause === 'shutdown') return { kind: 'released' };
  }
  return outcome;
}

/**
 * Writes the outcome, sending it again through transient store failures (a terminated
 * connection, a failover) for as long as the worker runs: giving up would leave the lease to
 * expire and a finished task to run again. Sending again is safe: a write whose reply was lost
 * committed and released the lease, so the retry is fenced off. An outcome the store refuses
 * for good (a bug, a value it cannot hold) is written as a failure saying so, rather than left
 * to run the task again and again.
 */
async function settle(deps: RunTaskDeps, task: ClaimedTask, outcome: TaskOutcome): Promise<void> {
  const { announcer } = deps.runtime;
  const write = (value: TaskOutcome) =>
    retryTransient(() => deps.settler.settle({ taskId: task.id, executionId: task.executionId, outcome: value }), {
      signal: deps.stopped,
      onRetry: (error, attempt) => {
        if (attempt === 1) deps.logger.warn({ err: error, taskId: task.id }, 'writing a task outcome failed; retrying until the store answers');
      },
    });
  try {
    let changes: Awaited<ReturnType<typeof write>>;
    try {
      changes = await write(outcome);
      if (outcome.kind === 'completed' && changes?.executions.some((e) => e.id === task.executionId && e.state === 'completed')) {
        deps.runtime.completions?.completed(task.executionId, outcome.result);
      }
    } catch (error) {
      if (isTransientStoreError(error) || outcome.kind !== 'completed') throw error;
      deps.logger.error({ err: error, taskId: task.id }, 'the store refused the task result; failing the task');
      changes = await write({ kind: 'failed', error: { name: 'StoreError', message: `The result could not be stored: ${(error as Error).message}` } });
    }
    if (!changes) deps.logger.info({ taskId: task.id }, 'task outcome not written: it was written already, or another worker took the task over');
    void announcer.announce(changes); // Never throws; nothing here waits for the hint to be out.
  } catch (error) {
    // The worker stopped while the store was down: the lease will expire and another worker resumes the task.
    deps.logger.error({ err: error, taskId: task.id }, 'could not write task outcome');
  }
}
