import { randomUUID } from 'node:crypto';
import { ChildTaskError, TaskAbortedError } from '../errors.js';
import type { ChangeFeed } from '../realtime/changeFeed.js';
import type { NewChild, Store } from '../store/store.js';
import type { Announcer } from './announcer.js';
import type { ArgsOf, DurableFunction, Registry, ResultOf } from './registry.js';
import type { Duration, Json, TaskRecord } from './types.js';
import { toJson, toMs } from './validation.js';

/** What a durable function receives as its first argument. */
export interface Context {
  readonly executionId: string;
  readonly taskId: string;
  readonly functionName: string;
  /** 1 on the first run, 2 on the first retry, ... */
  readonly attempt: number;
  /** Aborted when the execution is cancelled or times out, or this worker loses the task. */
  readonly signal: AbortSignal;
  /**
   * Runs a durable function as a child task and returns its result. Each call has a
   * deterministic key (this task + call order): after a crash the re-run finds a completed
   * child's stored result instead of running it again.
   */
  call<F extends DurableFunction>(fn: F, ...args: ArgsOf<F>): Promise<ResultOf<F>>;
  call(fn: string, ...args: unknown[]): Promise<unknown>;
  /** Runs `fn(item)` for every item as child tasks (fan-out) and returns the results in order. */
  map<F extends DurableFunction>(fn: F, items: Array<ArgsOf<F>[0]>): Promise<Array<ResultOf<F>>>;
  map(fn: string, items: unknown[]): Promise<unknown[]>;
  /** Sleeps durably: a re-run after a crash waits only for what is left. */
  sleep(duration: Duration): Promise<void>;
}

/** What a context needs from the worker that runs its task. */
export interface TaskRuntime {
  store: Store;
  feed: ChangeFeed;
  announcer: Announcer;
  registry: Registry;
  workerId: string;
  /** Frees the task's concurrency slot while `wait` is pending, and takes one back after. */
  suspend<T>(wait: Promise<T>): Promise<T>;
}

interface Scheduled {
  child: NewChild;
  resolve: (task: TaskRecord) => void;
  reject: (error: unknown) => void;
}

export class TaskContext implements Context {
  private callSequence = 0;
  private batch: Scheduled[] = [];

  constructor(
    private readonly runtime: TaskRuntime,
    private readonly task: TaskRecord,
    readonly signal: AbortSignal,
  ) {}

  get executionId(): string {
    return this.task.executionId;
  }
  get taskId(): string {
    return this.task.id;
  }
  get functionName(): string {
    return this.task.functionName;
  }
  get attempt(): number {
    return this.task.attempt;
  }

  async call(fn: DurableFunction | string, ...args: unknown[]): Promise<any> {
    const [child] = this.prepareCalls(fn, [args]);
    return this.runtime.suspend(this.settle(await this.schedule(child!)));
  }

  async map(fn: DurableFunction | string, items: unknown[]): Promise<any[]> {
    if (!Array.isArray(items)) throw new TypeError('ctx.map(fn, items): items must be an array');
    const children = this.prepareCalls(fn, items.map((item) => [item]));
    const tasks = await Promise.all(children.map((child) => this.schedule(child)));
    return this.runtime.suspend(Promise.all(tasks.map((task) => this.settle(task))));
  }

  async sleep(duration: Duration): Promise<void> {
    const delayMs = toMs(duration, 'ctx.sleep(duration)');
    const task = await this.schedule(this.newChild('sleep', 'sleep', [], delayMs));
    if (task.state === 'completed') return;
    await this.runtime.suspend(
      (async () => {
        for (;;) {
          const remainingMs = await this.runtime.store.msUntil(task.scheduledFor);
          if (remainingMs > 0) await abortableDelay(remainingMs, this.signal);
          this.throwIfAborted();
          const changes = await this.runtime.store.completeDueSleep(task.id);
          await this.runtime.announcer.announce(changes);
          if (changes.tasks.length > 0) return;
          const current = await this.runtime.store.getTask(task.id);
          if (current?.state === 'completed') return;
          if (current?.state === 'cancelled') throw new TaskAbortedError('cancelled');
        }
      })(),
    );
  }

  private prepareCalls(fn: DurableFunction | string, argLists: unknown[][]): NewChild[] {
    this.throwIfAborted();
    const definition = this.runtime.registry.resolve(fn);
    return argLists.map((args, index) => {
      const json = toJson(args, `${definition.name} argument list${argLists.length > 1 ? ` #${index}` : ''}`) as Json[];
      const child = this.newChild('function', definition.name, json, 0);
      child.queue = definition.queue;
      child.tags = definition.tags;
      child.priority = definition.priority || this.task.priority;
      child.maxAttempts = definition.retry.maxAttempts;
      return child;
    });
  }

  private newChild(kind: NewChild['kind'], functionName: string, args: Json[], delayMs: number): NewChild {
    return {
      id: randomUUID(),
      callKey: `${this.task.id}:${this.callSequence++}`,
      kind,
      functionName,
      args,
      queue: this.task.queue,
      tags: [],
      priority: this.task.priority,
      maxAttempts: 1,
      delayMs,
    };
  }

  /** Queues a child for the next batch insert: calls made in the same tick share one round trip. */
  private schedule(child: NewChild): Promise<TaskRecord> {
    return new Promise((resolve, reject) => {
      this.batch.push({ child, resolve, reject });
      if (this.batch.length === 1) queueMicrotask(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    try {
      const outcome = await this.runtime.store.scheduleChildren(
        this.task.id,
        this.runtime.workerId,
        batch.map((entry) => entry.child),
      );
      if (!outcome.ok) throw new TaskAbortedError(outcome.reason === 'lease_lost' ? 'lease_lost' : 'cancelled');
      await this.runtime.announcer.announce(outcome.changes);
      outcome.tasks.forEach((task, index) => batch[index]!.resolve(task));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  }

  /** Waits for a child to end; its result, or its error rethrown here. */
  private async settle(task: TaskRecord): Promise<unknown> {
    const done = task.state === 'completed' || task.state === 'failed' || task.state === 'cancelled'
      ? task
      : await this.runtime.feed.waitForTask(task.id, this.signal);
    if (done.state === 'completed') return done.result ?? null;
    if (done.state === 'failed') {
      throw new ChildTaskError(done.id, done.functionName, done.error ?? { name: 'Error', message: 'failed' });
    }
    throw new TaskAbortedError('cancelled');
  }

  private throwIfAborted(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
