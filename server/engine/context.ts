import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ChildTaskError, NonDeterminismError, SignalTimeoutError, TaskAbortedError, ValidationError } from '../errors.js';
import type { ChangeFeed } from '../realtime/changeFeed.js';
import type { LocalCompletions } from './localCompletions.js';
import type { NewChild, Store } from '../store/store.js';
import type { Announcer } from './announcer.js';
import { abortableDelay } from '../support/timers.js';
import { ProgressWriter } from './progressWriter.js';
import type { StreamAnnouncer } from './streamAnnouncer.js';
import { streamLimitsOf, type StreamLimits } from './streamLimits.js';
import { StreamWriter, type DurableStream } from './streamWriter.js';
import { retryTransient } from '../store/transientErrors.js';
import { context, trace, type Span } from '@opentelemetry/api';
import { failSpan, traceCarrier, tracer } from './tracing.js';
import type { ArgsOf, DurableFunction, Registry, ResultOf } from './registry.js';
import { TERMINAL_TASK_STATES, type Duration, type Json, type TaskRecord } from '../domain/types.js';
import { checkName, checkText, describe, toJson, toMs } from './validation.js';

/** Largest JSON size of `ctx.setState(state)`: custom state is overwritten in place, never grows. */
export const DEFAULT_MAX_CUSTOM_STATE_BYTES = 64 * 1024;

export interface SignalWaitOptions {
  /** Throw a SignalTimeoutError when no signal arrives within this long (default: wait forever). */
  timeoutMs?: Duration;
}

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
  /**
   * Waits for the next signal of this name sent to the execution (`senpuki.sendSignal`) and
   * returns its payload. Signals sent before the wait are buffered; each is received by exactly
   * one wait, in order. A replay receives the same payload again. While waiting, the task holds
   * no worker slot. Throws a SignalTimeoutError after `timeoutMs`.
   */
  waitForSignal<T = Json>(name: string, options?: SignalWaitOptions): Promise<T>;
  /** Reports progress on the execution (overwritten, written at most every 50 ms; the last value wins). */
  progress(done: number, total: number, message?: string): void;
  /** Adds `by` (default 1) to a counter of the execution; increments from many tasks add up. */
  increment(counter: string, by?: number): void;
  /** Replaces the execution's custom state: any JSON, readable by whoever watches the execution. */
  setState(state: Json): void;
  /**
   * The execution's stream `name`, for output readers follow live (GraphQL `executionStream`,
   * the SDK's `client.stream`): `await out.write(chunk)` appends a JSON chunk, numbered 1, 2, ...;
   * `await out.close()` ends it, and so does the end of this task. The same name gives the same
   * stream; one task writes it. A re-run of the task does not write again what the stream holds.
   */
  stream<T = Json>(name: string): DurableStream<T>;
}

/** What stream writers need from the engine. */
export interface StreamRuntime {
  limits: StreamLimits;
  announcer: StreamAnnouncer;
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
  logger?: Logger;
  /** Stream limits and announcements (default limits, no push). */
  streams?: StreamRuntime;
  /** This process's waiters, told of the completions its workers commit. */
  completions?: LocalCompletions;
}

interface Scheduled {
  child: NewChild;
  resolve: (task: TaskRecord) => void;
  reject: (error: unknown) => void;
}

export class TaskContext implements Context {
  private callSequence = 0;
  private batch: Scheduled[] = [];
  private readonly progressWriter: ProgressWriter;
  private readonly streams = new Map<string, StreamWriter>();

  constructor(
    private readonly runtime: TaskRuntime,
    private readonly task: TaskRecord,
    readonly signal: AbortSignal,
  ) {
    this.progressWriter = new ProgressWriter(
      async (patch) => {
        const { store, announcer, workerId } = this.runtime;
        await announcer.announce(await store.updateProgress(task.executionId, task.id, workerId, patch));
      },
      (error) => this.runtime.logger?.warn({ err: error, taskId: task.id }, 'writing progress failed'),
    );
  }

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
    return this.traceCall(child!, (async () => this.runtime.suspend(this.settle(await this.schedule(child!))))());
  }

  async map(fn: DurableFunction | string, items: unknown[]): Promise<any[]> {
    if (!Array.isArray(items)) throw new TypeError('ctx.map(fn, items): items must be an array');
    const children = this.prepareCalls(fn, items.map((item) => [item]));
    let tasks: TaskRecord[];
    try {
      tasks = await Promise.all(children.map((child) => this.schedule(child)));
    } catch (error) {
      for (const child of children) endSpan(child.span, error);
      throw error;
    }
    return this.runtime.suspend(Promise.all(tasks.map((task, index) => this.traceCall(children[index]!, this.settle(task)))));
  }

  /** Ends a call's span (started in prepareCalls) once its result, or its failure, is in. */
  private async traceCall<T>(child: { span: Span }, result: Promise<T>): Promise<T> {
    try {
      const value = await result;
      endSpan(child.span);
      return value;
    } catch (error) {
      endSpan(child.span, error);
      throw error;
    }
  }

  async sleep(duration: Duration): Promise<void> {
    const delayMs = toMs(duration, 'ctx.sleep(duration)');
    const task = await this.schedule(this.newChild('sleep', 'sleep', [], delayMs));
    if (task.state === 'completed') return;
    await this.runtime.suspend(
      (async () => {
        const { store, announcer } = this.runtime;
        const retrying = <T>(operation: () => Promise<T>) => retryTransient(operation, { signal: this.signal });
        for (;;) {
          const remainingMs = await retrying(() => store.msUntil(task.scheduledFor));
          if (remainingMs > 0) await abortableDelay(remainingMs, this.signal);
          this.throwIfAborted();
          const changes = await retrying(() => store.completeDueSleep(task.id));
          await announcer.announce(changes);
          if (changes.tasks.length > 0) return;
          const current = await retrying(() => store.getTask(task.id));
          if (current?.state === 'completed') return;
          if (current?.state === 'cancelled') throw new TaskAbortedError('cancelled');
        }
      })(),
    );
  }

  async waitForSignal<T = Json>(name: string, options: SignalWaitOptions = {}): Promise<T> {
    checkName(name, 'ctx.waitForSignal(name)');
    const timeoutMs = options.timeoutMs === undefined ? undefined : toMs(options.timeoutMs, 'ctx.waitForSignal timeoutMs');
    this.throwIfAborted();
    // args[0] holds the timeout, so a replay of a wait that timed out can wait as long again.
    const task = await this.schedule(this.newChild('signal', name, [timeoutMs ?? null], timeoutMs ?? 0));
    const done = TERMINAL_TASK_STATES.has(task.state) ? task : await this.runtime.suspend(this.awaitSignal(task, timeoutMs));
    if (done.state === 'completed') return (done.result ?? null) as T;
    if (done.state === 'failed') throw new SignalTimeoutError(name, timeoutMs ?? 0);
    throw new TaskAbortedError('cancelled');
  }

  progress(done: number, total: number, message?: string): void {
    if (!(Number.isFinite(done) && Number.isFinite(total) && done >= 0 && total >= 0)) {
      throw new ValidationError(`ctx.progress(done, total): both must be finite numbers of at least 0; got ${describe(done)}, ${describe(total)}`);
    }
    if (message !== undefined && message !== '') checkText(message, 'ctx.progress message', 1000);
    this.progressWriter.report({ progress: message === undefined ? { done, total } : { done, total, message } });
  }

  increment(counter: string, by = 1): void {
    checkName(counter, 'ctx.increment(counter)');
    if (!Number.isFinite(by)) throw new ValidationError(`ctx.increment("${counter}", by): by must be a finite number; got ${describe(by)}`);
    this.progressWriter.report({ increments: { [counter]: by } });
  }

  setState(state: Json): void {
    const json = toJson(state, 'ctx.setState(state)');
    const bytes = Buffer.byteLength(JSON.stringify(json));
    if (bytes > DEFAULT_MAX_CUSTOM_STATE_BYTES) {
      throw new ValidationError(`ctx.setState(state) got ${bytes} bytes of JSON; the limit is ${DEFAULT_MAX_CUSTOM_STATE_BYTES}. Keep a summary here and store the rest elsewhere.`);
    }
    this.progressWriter.report({ customState: json });
  }

  /** Writes the progress still coalescing; the runner calls it before writing the task's outcome. */
  flushProgress(): Promise<void> {
    return this.progressWriter.flush();
  }

  stream<T = Json>(name: string): DurableStream<T> {
    checkName(name, 'ctx.stream(name)');
    let writer = this.streams.get(name);
    if (!writer) {
      const { store, workerId, streams, logger } = this.runtime;
      const key = { executionId: this.task.executionId, name, taskId: this.task.id, workerId };
      writer = new StreamWriter({
        store,
        key,
        limits: streams?.limits ?? streamLimitsOf(),
        signal: this.signal,
        announce: (length) => streams?.announcer.announce(key.executionId, name, length),
        logger,
      });
      this.streams.set(name, writer);
    }
    return writer as DurableStream<unknown> as DurableStream<T>;
  }

  /**
   * Commits what every stream has buffered; the runner calls it before writing the task's outcome.
   * `completed`: the function returned (then a failure to commit throws, and fails the task).
   */
  async finishStreams(completed: boolean): Promise<void> {
    const outcomes = await Promise.allSettled([...this.streams.values()].map((writer) => writer.finish(completed)));
    const failed = outcomes.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * Waits for a signal wait to end. With a timeout, this context also ends it when the time
   * (by the database clock) has come; a signal delivered meanwhile wins under the same lock.
   */
  private async awaitSignal(task: TaskRecord, timeoutMs: number | undefined): Promise<TaskRecord> {
    if (timeoutMs === undefined) return this.runtime.feed.waitForTask(task.id, this.signal);
    const stop = new AbortController();
    void (async () => {
      const { store, announcer } = this.runtime;
      while (!stop.signal.aborted) {
        try {
          const remainingMs = await store.msUntil(task.scheduledFor);
          if (remainingMs > 0) await abortableDelay(remainingMs, stop.signal);
          const changes = await store.expireSignalWait(task.id);
          await announcer.announce(changes);
          if (changes.tasks.length > 0 || (await store.getTask(task.id))?.state !== 'waiting') return;
        } catch {
          if (!stop.signal.aborted) await abortableDelay(1000, stop.signal).catch(() => {}); // Store trouble: try again.
        }
      }
    })();
    try {
      return await this.runtime.feed.waitForTask(task.id, this.signal);
    } finally {
      stop.abort();
    }
  }

  private prepareCalls(fn: DurableFunction | string, argLists: unknown[][]): Array<NewChild & { span: Span }> {
    this.throwIfAborted();
    const definition = this.runtime.registry.resolve(fn);
    return argLists.map((args, index) => {
      const json = toJson(args, `${definition.name} argument list${argLists.length > 1 ? ` #${index}` : ''}`) as Json[];
      const child = this.newChild('function', definition.name, json, 0);
      child.queue = definition.queue;
      // Untagged functions inherit the caller's tags, so a worker that serves only some tags can
      // run a whole workflow dispatched with them.
      child.tags = definition.tags.length ? definition.tags : this.task.tags;
      child.priority = definition.priority || this.task.priority;
      child.maxAttempts = definition.retry.maxAttempts;
      // A span per call, in the running task's trace; the child's row carries it to its worker.
      const span = tracer().startSpan(`senpuki.call ${definition.name}`, { attributes: { 'senpuki.function': definition.name, 'senpuki.call_key': child.callKey } });
      child.traceContext = traceCarrier(trace.setSpan(context.active(), span));
      return Object.assign(child, { span });
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
      const children = batch.map((entry) => entry.child);
      // Idempotent by call key, so a transient store failure is sent again rather than failing the workflow.
      const outcome = await retryTransient(() => this.runtime.store.scheduleChildren(this.task.id, this.runtime.workerId, children), { signal: this.signal });
      if (!outcome.ok) throw new TaskAbortedError(outcome.reason === 'lease_lost' ? 'lease_lost' : 'cancelled');
      await this.runtime.announcer.announce(outcome.changes);
      outcome.tasks.forEach((task, index) => {
        const asked = children[index]!;
        // A replay must make the same calls in the same order; handing call #n of one function
        // the stored result of another would silently corrupt the workflow.
        if (task.kind !== asked.kind || task.functionName !== asked.functionName) {
          batch[index]!.reject(
            new NonDeterminismError(
              `${this.task.functionName} made call #${asked.callKey.split(':').pop()} to ${asked.kind === 'function' ? asked.functionName : asked.kind}, ` +
                `but an earlier run made it to ${task.kind === 'function' ? task.functionName : task.kind}. A durable function must make the same ` +
                'calls in the same order on every run: branch on stored results (ctx.call), not on time, randomness or outside state.',
            ),
          );
        } else batch[index]!.resolve(task);
      });
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

function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) failSpan(span, error);
  span.end();
}
