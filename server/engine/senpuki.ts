import { pino, type Logger } from 'pino';
import { ExecutionError, NotFoundError, ValidationError, WaitTimeoutError } from '../errors.js';
import type { NotificationBackend } from '../notifications/backend.js';
import { engineBackendOf, type EngineBackend } from '../notifications/engineBackend.js';
import { MemoryBackend } from '../notifications/memoryBackend.js';
import { PostgresNotifyBackend, type PostgresNotifyBackendOptions } from '../notifications/postgresNotifyBackend.js';
import { RedisBackend, type RedisBackendOptions } from '../notifications/redisBackend.js';
import type { PgliteLike } from '../store/pgliteListener.js';
import type { PostgresDbOptions } from '../store/db.js';
import type { EmbeddedDbOptions } from '../store/embeddedDb.js';
import { StreamFeed, type StreamEvent, type StreamWatchOptions } from '../realtime/streamFeed.js';
import { ChangeFeed, DEFAULT_POLL_BACKOFF_FACTOR, DEFAULT_POLL_MAX_INTERVAL_MS, DEFAULT_POLL_MIN_INTERVAL_MS, type PollOptions, type WatchOptions } from '../realtime/changeFeed.js';
import type { RowConsumer, RowFeed, RowWatcher } from '../realtime/rowWatcher.js';
import { Store, type Changes, type ExactExecutionCursor, type ExecutionCursor, type ExecutionFilter, type ExecutionPageRow } from '../store/store.js';
import { Announcer } from './announcer.js';
import { LocalCompletions } from './localCompletions.js';
import { DEFAULT_CANCEL_WATCH_DELAY_MS } from './executionWatchers.js';
import { toNewExecution, toNewExecutions, type DispatchItem, type DispatchOptions } from './dispatchInput.js';
import { discardDeadLetter, listDeadLetters, replayDeadLetter, type DeadLetterListOptions } from './deadLetters.js';
import { checkHealth, type SenpukiHealth } from './health.js';
import {
  Registry,
  defineDurable,
  type ArgsOf,
  type DurableBody,
  type DurableFunction,
  type DurableOptions,
  type ResultOf,
} from './registry.js';
import { toRetentionPolicy, type RetentionOptions } from './retention.js';
import { sendSignal, type SignalSent } from './signals.js';
import type { StreamRuntime } from './context.js';
import { StreamAnnouncer } from './streamAnnouncer.js';
import { readStream, type ReadStreamOptions } from './streamReader.js';
import { streamLimitsOf, type StreamLimits } from './streamLimits.js';
import type { DeadLetterRecord, Duration, ExecutionRecord, Json, StreamChunk, StreamInfo, TaskRecord, WorkerRecord } from '../domain/types.js';
import { unservedReason } from './workerCoverage.js';
import { EngineEventHub, type EngineEvents } from './events.js';
import { SpanKind, inSpan, traceCarrier } from './tracing.js';
import { assertUuid, checkListLimit, describe, toMs } from './validation.js';
import { Worker, type TakenDispatch, type WorkerOptions } from './worker.js';
import { timeoutSignal } from '../support/timers.js';

export const DEFAULT_MAX_ARGS_BYTES = 1024 * 1024;
/** How long `workers()` serves the list it read last. */
const WORKER_LIST_TTL_MS = 1000;

/** An execution id that remembers the result type of the function it runs. */
export type ExecutionId<R = unknown> = string & { readonly __result?: R };

export interface SenpukiOptions extends Partial<PollOptions> {
  store?: Store;
  /** The spec's name for `store`. */
  backend?: Store;
  /** Default: in-process notifications (push within this process, polling across processes). */
  notifications?: NotificationBackend;
  /** The spec's name for `notifications`. */
  notificationBackend?: NotificationBackend;
  /** Largest JSON size of a dispatch's arguments (and of a signal's payload). Default 1 MiB. */
  maxArgsBytes?: number;
  logger?: Logger;
  /** Old rows the workers of this instance remove; `serve({ retention })` overrides it per worker. Default: keep everything. */
  retention?: RetentionOptions;
  /** Limits on `ctx.stream` writes: chunk size (default 64 KiB), chunks per stream (100,000), streams per execution (1,000). */
  streamLimits?: Partial<StreamLimits>;
}

export type { DispatchItem, DispatchOptions } from './dispatchInput.js';
export { MAX_IDEMPOTENCY_KEY_LENGTH } from './dispatchInput.js';

export interface WaitOptions {
  /** Reject with a WaitTimeoutError after this long (the execution goes on). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ListOptions {
  limit?: number;
  after?: ExecutionCursor;
}

/** The engine: registers durable functions, dispatches and watches executions, runs workers. */
export class Senpuki {
  /** The spec's spellings: `Senpuki.backends.PostgresBackend(dsn)` (then `await backend.initDb()`). */
  static readonly backends = {
    PostgresBackend: (connectionString: string, options?: PostgresDbOptions): Store => Store.postgres(connectionString, options),
    EmbeddedBackend: (options?: EmbeddedDbOptions): Promise<Store> => Store.embedded(options),
  };

  /** The spec's spellings: `Senpuki.notifications.RedisBackend(url)` and friends. */
  static readonly notifications = {
    RedisBackend: (url: string, options?: RedisBackendOptions): RedisBackend => new RedisBackend(url, options),
    PostgresNotifyBackend: (source: string | PgliteLike, options?: PostgresNotifyBackendOptions): PostgresNotifyBackend =>
      new PostgresNotifyBackend(source, options),
    MemoryBackend: (): MemoryBackend => new MemoryBackend(),
  };

  readonly store: Store;
  /** The notification backend, as the engine uses it (a user's own backend behind an adapter). */
  readonly notifications: EngineBackend;
  readonly feed: ChangeFeed;
  /** Readers of streams (`readStream`, GraphQL `executionStream`). */
  readonly streamFeed: StreamFeed;
  readonly registry = new Registry();
  readonly logger: Logger;
  private readonly announcer: Announcer;
  private readonly poll: PollOptions;
  private readonly maxArgsBytes: number;
  private readonly workers = new Set<Worker>();
  private readonly retention: RetentionOptions | undefined;
  private readonly streams: StreamRuntime;
  private closing: Promise<void> | undefined;
  private workerList: { at: number; list: Promise<WorkerRecord[]> } | undefined;
  private readonly events = new EngineEventHub();
  private readonly completions = new LocalCompletions();

  constructor(options: SenpukiOptions) {
    const store = options.store ?? options.backend;
    if (!(store instanceof Store)) {
      throw new ValidationError('new Senpuki({ store }) needs a store: await Store.embedded(), Store.postgres(url) or Senpuki.backends.PostgresBackend(url)');
    }
    this.store = store;
    this.notifications = engineBackendOf(options.notifications ?? options.notificationBackend ?? new MemoryBackend());
    this.logger = options.logger ?? pino({ name: 'senpuki', level: process.env.SENPUKI_LOG_LEVEL ?? 'warn' });
    this.poll = {
      pollMinIntervalMs: options.pollMinIntervalMs ?? DEFAULT_POLL_MIN_INTERVAL_MS,
      pollMaxIntervalMs: options.pollMaxIntervalMs ?? DEFAULT_POLL_MAX_INTERVAL_MS,
      pollBackoffFactor: options.pollBackoffFactor ?? DEFAULT_POLL_BACKOFF_FACTOR,
    };
    this.maxArgsBytes = options.maxArgsBytes ?? DEFAULT_MAX_ARGS_BYTES;
    toRetentionPolicy(options.retention); // Bad retention options fail here, not in a worker's tick.
    this.retention = options.retention;
    // Our own workers are woken in-process (no round trip) and skip the same wake-up when it
    // comes back on the backend: one nudge, one claim, per dispatch.
    this.announcer = new Announcer(this.notifications, (queue) => {
      for (const worker of this.workers) worker.nudge(queue);
    });
    this.feed = new ChangeFeed({ store, notifications: this.notifications, pushReachesAllWriters: this.pushReachesAllWriters, ...this.poll });
    this.streams = { limits: streamLimitsOf(options.streamLimits), announcer: new StreamAnnouncer(this.notifications) };
    this.streamFeed = new StreamFeed({ store, notifications: this.notifications, pushReachesAllWriters: this.pushReachesAllWriters, ...this.poll });
    // Messages are lost while the backend is down: when it drops, feeds re-read and switch to fast
    // polling; when it is back, every watched row is re-read and workers look for work.
    this.notifications.addConnectionListener(() => {
      this.feed.nudgeAll();
      for (const worker of this.workers) worker.nudge();
    });
  }

  /**
   * Push may replace polling only when every writer publishes where we listen: a shared backend,
   * or in-process notifications over the embedded store (which one process holds).
   */
  get pushReachesAllWriters(): boolean {
    return this.notifications.scope !== 'process' || this.store.kind === 'pglite';
  }

  /** The polling intervals this instance's feeds use (list subscriptions follow them too). */
  get pollOptions(): Readonly<PollOptions> {
    return this.poll;
  }

  /**
   * Listens to what this instance's workers do (tasks started and finished, leases taken back),
   * for metrics and logs. Listeners run synchronously and must be cheap; returns a remover.
   */
  observe(listeners: EngineEvents): () => void {
    return this.events.add(listeners);
  }

  /** Registers a durable function under `name` (what GraphQL's `dispatch` refers to). */
  durable<A extends unknown[], R>(name: string, body: DurableBody<A, R>, options?: DurableOptions): DurableFunction<A, R> {
    const fn = defineDurable(name, body, options);
    this.registry.add(fn);
    return fn;
  }

  /** Registers functions defined elsewhere with `defineDurable`. */
  register(...fns: DurableFunction[]): void {
    for (const fn of fns) this.registry.add(fn);
  }

  /** Starts an execution and returns its id. */
  async dispatch<F extends DurableFunction>(fn: F | string, args: ArgsOf<F> | unknown[] = [] as unknown[], options: DispatchOptions = {}): Promise<ExecutionId<ResultOf<F>>> {
    const { execution } = await this.submit(fn, args, options);
    return execution.id;
  }

  /**
   * Like `dispatch`, returning the execution row and whether this call created it (idempotency).
   * `maxArgsBytes` narrows the engine's limit for this call (a server's own limit).
   */
  async submit(
    fn: DurableFunction | string,
    args: unknown[],
    options: DispatchOptions = {},
    maxArgsBytes = this.maxArgsBytes,
  ): Promise<{ execution: ExecutionRecord; created: boolean }> {
    const row = toNewExecution(this.registry, fn, args, options, Math.min(maxArgsBytes, this.maxArgsBytes));
    return inSpan(`senpuki.dispatch ${row.functionName}`, { kind: SpanKind.PRODUCER, attributes: { 'senpuki.function': row.functionName, 'senpuki.queue': row.queue } }, async (span) => {
      // A worker of this process that would claim it at once takes it in the dispatch's own write.
      const taken = row.delayMs === 0 ? this.localTaker(row) : undefined;
      let result: Awaited<ReturnType<Store['createExecution']>>;
      try {
        result = await this.store.createExecution({ ...row, traceContext: traceCarrier() }, taken?.lease);
      } catch (error) {
        taken?.decline();
        throw error;
      }
      span.setAttributes({ 'senpuki.execution_id': result.execution.id, 'senpuki.created': result.created });
      const { leasedTask } = result;
      if (leasedTask) taken!.start(leasedTask);
      else taken?.decline();
      if (result.created) {
        await this.announcer.announce(leasedTask ? startedChanges(leasedTask) : dispatchChanges([result.execution], [options]));
      }
      return { execution: result.execution, created: result.created };
    });
  }

  /** The first of this instance's workers that takes a dispatch of `row` at once (see `Worker.takeDispatch`). */
  private localTaker(row: { queue: string; tags: string[]; functionName: string }): TakenDispatch | undefined {
    for (const worker of this.workers) {
      const taken = worker.takeDispatch(row);
      if (taken) return taken;
    }
    return undefined;
  }

  /**
   * Starts many executions with one statement; resolves with their ids in input order. Each
   * item's idempotency key is honoured as in `dispatch`. A batch is checked whole first: when any
   * item is invalid nothing is dispatched, and the DispatchBatchError says which items and why.
   * At most 1,000 items per call.
   */
  async dispatchMany(items: DispatchItem[]): Promise<ExecutionId[]> {
    return (await this.submitMany(items)).map(({ execution }) => execution.id);
  }

  /** Like `dispatchMany`, returning each execution row and whether this call created it. */
  async submitMany(items: DispatchItem[], maxArgsBytes = this.maxArgsBytes): Promise<Array<{ execution: ExecutionRecord; created: boolean }>> {
    const rows = toNewExecutions(this.registry, items, Math.min(maxArgsBytes, this.maxArgsBytes));
    if (rows.length === 0) return [];
    const results = await inSpan('senpuki.dispatchMany', { kind: SpanKind.PRODUCER, attributes: { 'senpuki.batch_size': rows.length } }, () => {
      const traceContext = traceCarrier();
      return this.store.createExecutions(rows.map((row) => ({ ...row, traceContext })));
    });
    const created = results.flatMap((result, i) => (result.created ? [{ execution: result.execution, options: items[i]!.options ?? {} }] : []));
    if (created.length > 0) {
      await this.announcer.announce(dispatchChanges(created.map((c) => c.execution), created.map((c) => c.options)));
    }
    return results;
  }

  /** Resolves with the result once the execution completes; rejects with an ExecutionError otherwise. */
  async waitFor<R>(id: ExecutionId<R>, options: WaitOptions = {}): Promise<R> {
    assertUuid(id, 'execution id');
    const timeoutMs = options.timeoutMs === undefined ? undefined : toMs(options.timeoutMs, 'timeoutMs');
    const signals = [options.signal, timeoutMs === undefined ? undefined : timeoutSignal(timeoutMs)].filter((s): s is AbortSignal => !!s);
    const signal = signals.length ? AbortSignal.any(signals) : undefined;
    // A worker of this process that completes it tells us at once (or did a moment ago); anything else comes through the feed.
    const recent = this.completions.recentResult(id);
    if (recent) return recent.result as R;
    const local = this.completions.wait(id);
    const settledHere = new AbortController();
    const watchSignal = signal ? AbortSignal.any([signal, settledHere.signal]) : settledHere.signal;
    let startWatching!: () => void;
    const watched = new Promise<ExecutionRecord>((resolve, reject) => {
      startWatching = () => {
        startWatching = () => {};
        if (!settledHere.signal.aborted) this.feed.waitForExecution(id, watchSignal).then(resolve, reject);
      };
    });
    // While a worker here runs its root task, the row is watched only once that run has taken longer
    // than a moment or ended otherwise than in the completion: a short execution waited for where it
    // runs costs no channel subscription and no read of its row.
    const run = this.rootRunOf(id);
    const watchNow = () => startWatching();
    let grace: NodeJS.Timeout | undefined;
    if (run) {
      grace = setTimeout(watchNow, DEFAULT_CANCEL_WATCH_DELAY_MS);
      // A turn later: a completion has resolved the wait by then (its outcome is told before `done` settles).
      const afterRun = () => void setImmediate(watchNow);
      void run.done.then(afterRun, afterRun);
      // The watch is what turns an abort into its error.
      if (signal?.aborted) watchNow();
      else signal?.addEventListener('abort', watchNow, { once: true });
    } else {
      watchNow();
    }
    try {
      const outcome = await Promise.race([watched.then((execution) => ({ execution })), local.completed.then((result) => ({ result }))]);
      return ('result' in outcome ? outcome.result : settledResult(outcome.execution)) as R;
    } catch (error) {
      if (signal?.aborted && !options.signal?.aborted) {
        throw new WaitTimeoutError(`Execution ${id} did not finish within ${timeoutMs} ms; it goes on, wait again or cancel it`);
      }
      throw error;
    } finally {
      clearTimeout(grace);
      signal?.removeEventListener('abort', watchNow);
      local.cancel();
      if (!settledHere.signal.aborted) {
        watched.catch(() => {}); // Its end is of no interest once the wait is over.
        settledHere.abort();
      }
    }
  }

  private rootRunOf(executionId: string) {
    for (const worker of this.workers) {
      const run = worker.rootRunOf(executionId);
      if (run) return run;
    }
    return undefined;
  }

  /** The result of a finished execution; throws while it is not finished. */
  async resultOf<R>(id: ExecutionId<R>): Promise<R> {
    const execution = await this.stateOf(id);
    if (execution.state === 'pending' || execution.state === 'running' || execution.state === 'cancelling') {
      throw new ValidationError(`Execution ${id} is still ${execution.state}; use waitFor(id) to wait for its result`);
    }
    return settledResult(execution) as R;
  }

  /** The execution row; NotFoundError for an unknown id. */
  async stateOf(id: string): Promise<ExecutionRecord> {
    assertUuid(id, 'execution id');
    const execution = await this.store.getExecution(id);
    if (!execution) throw new NotFoundError(`No execution with id ${id}`);
    return execution;
  }

  /** Cancels an execution: running tasks see `ctx.signal` aborted; ends in `cancelled`. Returns the state afterwards. */
  async cancel(id: string): Promise<ExecutionRecord['state']> {
    assertUuid(id, 'execution id');
    const outcome = await this.store.cancelExecution(id);
    if (!outcome) throw new NotFoundError(`No execution with id ${id}`);
    await this.announcer.announce(outcome.changes);
    return outcome.state;
  }

  listExecutions(filter: ExecutionFilter = {}, options: ListOptions = {}): Promise<ExecutionRecord[]> {
    return this.store.listExecutions(filter, checkListLimit(options.limit ?? 50), options.after);
  }

  /** A page of executions, newest first, each with the exact cursor that continues after it (for GraphQL connections). */
  pageExecutions(filter: ExecutionFilter, limit: number, after?: ExactExecutionCursor): Promise<ExecutionPageRow[]> {
    return this.store.pageExecutions(filter, checkListLimit(limit), after);
  }

  countExecutions(filter: ExecutionFilter = {}): Promise<number> {
    return this.store.countExecutions(filter);
  }

  async getTask(id: string): Promise<TaskRecord> {
    assertUuid(id, 'task id');
    const task = await this.store.getTask(id);
    if (!task) throw new NotFoundError(`No task with id ${id}`);
    return task;
  }

  /** All tasks of an execution, oldest first (parents before their children). */
  async listTasks(executionId: string): Promise<TaskRecord[]> {
    assertUuid(executionId, 'execution id');
    return this.store.listTasks(executionId);
  }

  /**
   * Sends a signal to an execution: the oldest `ctx.waitForSignal(name)` waiting in it receives
   * `payload`, or the next one to start does (signals queue, each reaching exactly one wait, in
   * order). NotFoundError for an unknown execution, ConflictError for one that has finished.
   */
  sendSignal(executionId: string, name: string, payload?: unknown): Promise<SignalSent> {
    return sendSignal({ store: this.store, announcer: this.announcer, maxPayloadBytes: this.maxArgsBytes }, executionId, name, payload);
  }

  /** The streams of an execution (names, lengths, whether closed), oldest first; NotFoundError for an unknown execution. */
  async listStreams(execution: string | ExecutionRecord): Promise<StreamInfo[]> {
    // A record was read already: it exists.
    if (typeof execution === 'string') await this.stateOf(execution);
    return this.store.listStreams(typeof execution === 'string' ? execution : execution.id);
  }

  /** Stream `name` of an execution after `after`: the backlog, then each chunk as written; ends once it is closed (see streamReader.ts). */
  readStream<T = Json>(executionId: string, name: string, options: ReadStreamOptions = {}): AsyncGenerator<StreamChunk<T>> {
    return readStream<T>(this, executionId, name, options);
  }

  /** The execution, or undefined; reads due in the same tick are one query (GraphQL fields, dead letters). */
  findExecution(id: string): Promise<ExecutionRecord | undefined> {
    return this.feed.readExecution(id);
  }

  /** The task, or undefined; batched like `findExecution`. */
  findTask(id: string): Promise<TaskRecord | undefined> {
    return this.feed.readTask(id);
  }

  /** The execution now, then each newer version, ending after its terminal state (see realtime/changeFeed.ts). */
  watchExecution(id: string, options: WatchOptions = {}): RowFeed<ExecutionRecord> {
    return this.feed.watchExecution(id, options);
  }

  /** The task now, then each newer version, ending after its terminal state. */
  watchTask(id: string, options: WatchOptions = {}): RowFeed<TaskRecord> {
    return this.feed.watchTask(id, options);
  }

  /**
   * Attaches `consumer` to the execution's shared watcher (one per row per process), which offers
   * it the current version and then each newer one; detach it from the watcher returned. For
   * consumers that keep their own `since` (graphql-ws row subscriptions); others use `watchExecution`.
   */
  attachToExecution(id: string, consumer: RowConsumer<ExecutionRecord>): RowWatcher<ExecutionRecord> {
    return this.feed.attachToExecution(id, consumer);
  }

  /** Attaches `consumer` to the task's shared watcher (see `attachToExecution`). */
  attachToTask(id: string, consumer: RowConsumer<TaskRecord>): RowWatcher<TaskRecord> {
    return this.feed.attachToTask(id, consumer);
  }

  /** The events of stream `name` after `after`, the backlog first, ending once it is closed (GraphQL `executionStream`). */
  watchStream(executionId: string, name: string, options: StreamWatchOptions = {}): AsyncGenerator<StreamEvent> {
    return this.streamFeed.watch(executionId, name, options);
  }

  /** Tasks that failed for good (retries exhausted or non-retryable), newest first. */
  listDeadLetters(options: DeadLetterListOptions = {}): Promise<DeadLetterRecord[]> {
    return listDeadLetters(this.store, options);
  }

  async countDeadLetters(filter: Omit<DeadLetterListOptions, 'limit' | 'offset'> = {}): Promise<number> {
    if (filter.executionId !== undefined) assertUuid(filter.executionId, 'executionId');
    return this.store.countDeadLetters(filter);
  }

  /** Removes a dead letter without replaying it; NotFoundError when there is none. */
  discardDeadLetter(id: string): Promise<void> {
    return discardDeadLetter(this.store, id);
  }

  /**
   * Runs a dead letter's task again; its failed execution goes back to `running` and continues
   * where it failed, without re-running completed steps. Resolves with the execution id.
   */
  replayDeadLetter(id: string): Promise<ExecutionId> {
    return replayDeadLetter(this.store, this.announcer, id);
  }

  /** Removes expired rows now (what workers do every `retention.intervalMs`); for a cron job. */
  async purgeExpired(retention: RetentionOptions | undefined = this.retention) {
    const policy = toRetentionPolicy(retention);
    if (!policy) throw new ValidationError('purgeExpired needs retention options, e.g. { completedMs: "7d", deadLettersMs: "30d" }');
    return this.store.purgeExpired(policy.ages, policy.batchSize);
  }

  /**
   * The live workers of every process on this store (seen within the last few seconds), oldest
   * first. Read at most once a second per process, however many callers ask.
   */
  liveWorkers(): Promise<WorkerRecord[]> {
    const now = Date.now();
    if (!this.workerList || now - this.workerList.at > WORKER_LIST_TTL_MS) {
      const list = this.store.listWorkers();
      this.workerList = { at: now, list };
      list.catch(() => {
        if (this.workerList?.list === list) this.workerList = undefined;
      });
    }
    return this.workerList.list;
  }

  /** Why no live worker will take this pending execution (undefined when one can, or it is not pending). */
  async unservedReason(execution: ExecutionRecord, detail = true): Promise<string | undefined> {
    if (execution.state !== 'pending') return undefined;
    return unservedReason({ queue: execution.queue, tags: execution.tags, functionName: execution.functionName }, await this.liveWorkers(), detail);
  }

  /** For liveness/readiness probes: a store ping and the state of this instance's workers. */
  health(): Promise<SenpukiHealth> {
    return checkHealth(this.store, this.workers, this.notifications);
  }

  /** Starts a worker in this process; resolves once it is claiming. */
  async serve(options: WorkerOptions = {}): Promise<Worker> {
    if (this.closing) throw new ValidationError('This Senpuki is closed');
    if (options.concurrency !== undefined && (!Number.isInteger(options.concurrency) || options.concurrency < 1)) {
      throw new ValidationError(`concurrency must be a positive integer; got ${describe(options.concurrency)}`);
    }
    const closedMeanwhile = () => new ValidationError('This Senpuki was closed while the worker was starting');
    await this.store.initDb().catch((error) => {
      throw this.closing ? closedMeanwhile() : error;
    });
    if (this.closing) throw closedMeanwhile();
    const worker = new Worker(
      {
        runtime: { store: this.store, feed: this.feed, announcer: this.announcer, registry: this.registry, streams: this.streams, completions: this.completions },
        events: this.events,
        notifications: this.notifications,
        pushReachesAllWriters: this.pushReachesAllWriters,
        poll: this.poll,
        logger: this.logger,
        functionNames: () => this.registry.names(),
        defaultQueues: () => [...new Set(['default', ...this.registry.list().map((fn) => fn.queue)])],
        onStopped: (stopped) => this.workers.delete(stopped),
      },
      { ...options, retention: options.retention ?? this.retention },
    );
    this.workers.add(worker);
    return worker.start();
  }

  /** Stops this instance's workers, then closes the notification backend and the store it was given. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await Promise.all([...this.workers].map((worker) => worker.stop()));
        await this.notifications.close();
      } finally {
        await this.store.close();
      }
    })();
    return this.closing;
  }
}

/** What dispatching these executions changed: their rows, and a wake-up for each queue with work due now. */
function dispatchChanges(executions: ExecutionRecord[], options: DispatchOptions[]): Changes {
  return {
    tasks: executions.map((execution) => ({ id: execution.rootTaskId, state: 'pending' as const, executionId: execution.id })),
    executions: executions.map((execution) => ({ id: execution.id, state: 'pending' as const })),
    wakeQueues: executions.filter((_, i) => !options[i]!.delay).map((execution) => execution.queue),
  };
}

/** What a dispatch taken by a local worker changed: its execution and root task are running. */
function startedChanges(task: TaskRecord): Changes {
  return {
    tasks: [{ id: task.id, state: 'running', executionId: task.executionId }],
    executions: [{ id: task.executionId, state: 'running' }],
    wakeQueues: [],
  };
}

function settledResult(execution: ExecutionRecord): unknown {
  if (execution.state === 'completed') return execution.result ?? null;
  if (execution.state === 'pending' || execution.state === 'running' || execution.state === 'cancelling') {
    throw new Error(`execution ${execution.id} is not finished`); // Unreachable: callers pass terminal rows.
  }
  throw new ExecutionError(execution.id, execution.state, execution.error);
}
