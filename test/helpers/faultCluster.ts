/**
 * What the fault suite runs: a real deployment in child processes (one `senpuki serve` API server
 * without a worker, and `senpuki worker` processes) on a Postgres schema of its own, plus the
 * checks every fault test makes afterwards: nothing exited, nothing was lost, no completed child
 * ran again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import WebSocket from 'ws';
import { createSenpukiClient, type SenpukiClient } from '../../client/index.js';
import { startServeChild, startWorkerChild, type CliChild, type ServeChild } from './cli.js';
import { openPostgresTestStore, postgresUrl, type TestStore } from './stores.js';

const FUNCTIONS = 'test/fixtures/faultFunctions.ts';

export interface FaultClusterOptions {
  /** Notification backend of every process; without one, Postgres LISTEN/NOTIFY. */
  redisUrl?: string;
  workers?: number;
  workerConcurrency?: number;
  /** Extra arguments for each worker. */
  workerArgs?: string[];
}

/** One run of a child: `start` or `done` of a key, by a process, at a time. */
export interface ChildRun {
  event: 'start' | 'done';
  key: string;
  pid: number;
  at: number;
}

export class FaultCluster {
  server!: ServeChild;
  readonly workers: CliChild[] = [];
  private readonly clients: SenpukiClient[] = [];
  private readonly admin: pg.Client;

  private constructor(
    readonly store: TestStore,
    /** Every connection of the cluster's processes carries this application_name. */
    readonly applicationName: string,
    readonly dir: string,
    private readonly options: FaultClusterOptions,
  ) {
    this.admin = new pg.Client({ connectionString: postgresUrl, application_name: `${applicationName}-admin` });
    this.admin.on('error', () => {});
  }

  static async start(options: FaultClusterOptions = {}): Promise<FaultCluster> {
    const store = await openPostgresTestStore();
    const cluster = new FaultCluster(store, `senpuki-fault-${randomBytes(4).toString('hex')}`, await mkdtemp(join(tmpdir(), 'senpuki-fault-')), options);
    try {
      await cluster.admin.connect();
      cluster.server = await startServeChild(['--functions', FUNCTIONS, '--port', '0', '--concurrency', '0'], cluster.env());
      for (let i = 0; i < (options.workers ?? 2); i++) await cluster.startWorker();
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  get databaseUrl(): string {
    return `${postgresUrl}?application_name=${this.applicationName}&options=${encodeURIComponent(`-c search_path=${this.store.schema}`)}`;
  }

  get logPath(): string {
    return join(this.dir, 'runs.log');
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      DATABASE_URL: this.databaseUrl,
      ...(this.options.redisUrl ? { REDIS_URL: this.options.redisUrl } : {}),
      SENPUKI_FAULT_LOG: this.logPath,
      ...extra,
    };
  }

  /** SIGKILLs the API server and starts a new one on the same port (clients keep their URL). */
  async restartServer(): Promise<void> {
    const port = new URL(this.server.graphqlUrl).port;
    const exited = new Promise((resolve) => this.server.process.once('exit', resolve));
    this.server.process.kill('SIGKILL');
    await exited;
    this.server = await startServeChild(['--functions', FUNCTIONS, '--port', port, '--concurrency', '0'], this.env());
  }

  async startWorker(): Promise<CliChild> {
    const args = ['--functions', FUNCTIONS, '--concurrency', String(this.options.workerConcurrency ?? 4), ...(this.options.workerArgs ?? [])];
    const worker = await startWorkerChild(args, this.env());
    this.workers.push(worker);
    return worker;
  }

  /** A client of the API server (closed by `close()`). */
  client(transport: 'ws' | 'sse' = 'ws'): SenpukiClient {
    const client = createSenpukiClient({ url: this.server.graphqlUrl, transport, webSocketImpl: WebSocket, retry: { initialDelayMs: 50, maxDelayMs: 500 } });
    this.clients.push(client);
    return client;
  }

  /** Dispatches `count` fan-outs of `children` children of `ms` each; their execution ids. */
  async dispatchFanOuts(count: number, children: number, ms: number): Promise<string[]> {
    const client = this.client();
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push((await client.dispatch('faultFanOut', [`fan${i}`, children, ms])).executionId);
    return ids;
  }

  /** Ends every Postgres backend of the cluster's processes (what a failover does); how many. */
  async terminateBackends(): Promise<number> {
    // In the select list, not the WHERE clause: there the planner may call it before the filter.
    const { rows } = await this.admin.query<{ terminated: boolean }>(
      'SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = $1',
      [this.applicationName],
    );
    return rows.filter((row) => row.terminated).length;
  }

  async states(ids: string[]): Promise<Map<string, string>> {
    const { rows } = await this.admin.query<{ id: string; state: string }>(
      `SELECT id, state FROM ${this.store.schema}.senpuki_executions WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    return new Map(rows.map((row) => [row.id, row.state]));
  }

  async runs(): Promise<ChildRun[]> {
    const text = await readFile(this.logPath, 'utf8').catch(() => '');
    return text
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [event, key, pid, at] = line.split(' ');
        return { event: event as ChildRun['event'], key: key!, pid: Number(pid), at: Number(at) };
      });
  }

  /**
   * Asserts that no child started again after it was stored as completed (completed steps are
   * never re-run), and that every child of the executions completed. Returns the runs.
   */
  async assertCompletedChildrenRanOnce(): Promise<ChildRun[]> {
    const { rows } = await this.admin.query<{ key: string; state: string; finished_ms: number | null }>(
      `SELECT args->0->>'key' AS key, state, (extract(epoch FROM finished_at) * 1000)::float8 AS finished_ms
       FROM ${this.store.schema}.senpuki_tasks WHERE function_name = 'faultChild'`,
    );
    const runs = await this.runs();
    for (const row of rows) {
      assert.equal(row.state, 'completed', `child ${row.key} is ${row.state}`);
      const late = runs.filter((run) => run.key === row.key && run.event === 'start' && run.at > row.finished_ms!);
      assert.deepEqual(late, [], `child ${row.key} started again after it completed`);
      assert.ok(runs.some((run) => run.key === row.key && run.event === 'done'), `child ${row.key} logged its run`);
    }
    return runs;
  }

  /** Asserts every process of the cluster is still running. */
  assertAllRunning(): void {
    for (const [name, child] of [['server', this.server], ...this.workers.map((worker, i) => [`worker ${i}`, worker] as const)] as const) {
      if (!child) continue;
      assert.equal(child.process.exitCode, null, `${name} exited with ${child.process.exitCode}:\n${child.errors()}`);
      assert.equal(child.process.signalCode, null, `${name} was ended by ${child.process.signalCode}`);
    }
  }

  /** Stops everything; resolves with the exit codes of the processes that were still running. */
  async close(): Promise<Array<number | null>> {
    for (const client of this.clients) await client.close().catch(() => {});
    const running = [this.server, ...this.workers].filter((child) => child && child.process.exitCode === null && child.process.signalCode === null);
    const codes = await Promise.all(running.map((child) => child.stop()));
    await this.admin.end().catch(() => {});
    await this.store.dispose();
    await rm(this.dir, { recursive: true, force: true });
    return codes;
  }
}
