/**
 * Realtime at scale: many `executionUpdated` subscriptions on one server process, then a burst of
 * terminal commits, against a bare graphql-yoga + graphql-ws server with in-memory pubsub measured
 * in the same run (the floor for pushing the same events down the same sockets).
 *
 *   npm run bench   (all benches)      tsx bench/fanout.ts   (this one)
 *   FANOUT_SCENARIOS ("subscriptions x per-row", comma-separated; default 1000x1,1000x100,10000x1,10000x100),
 *   FANOUT_SOCKETS (default 100) resize it; FANOUT_MEMORY_WINDOW_MS (default 20,000) is how long memory is watched for its settled value; REDIS_URL / DATABASE_URL override the local services.
 *
 * Each system runs in child processes: the server (Senpuki as built by `npm run build`, which
 * this bench runs first; RSS, heap and CPU sampled after two memory-reducing full
 * collections), the clients (graphql-ws sockets, subscriptions spread round-robin over them) and,
 * for Senpuki, a writer standing in for the workers (its own pool and Redis connection: it commits
 * every execution's terminal state at once, one transaction each, and announces it as the engine
 * does). Per subscription: RSS (without V8's young generation, see ipc.ts) and heap added by the
 * second half of the subscriptions, once the first half is settled: an idle server still holds
 * start-up memory (compiled code, first-request buffers) that it gives back at some moment of the
 * run, so growth from idle could shrink or even fall below zero; between two loads every path
 * has run and what is added is the subscriptions' own. Growth from idle is kept in the JSON.
 * Delivery: each subscription's terminal event time minus its row's commit time; "last" is the
 * last event minus the last commit.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { machineInfo, report, summarize, type PathResult } from './lib/report.js';
import { start, type Child, type ProcessSample } from './fanout/ipc.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SOCKETS = Number(process.env.FANOUT_SOCKETS ?? 100);
const SCENARIOS = (process.env.FANOUT_SCENARIOS || '1000x1,1000x100,10000x1,10000x100').split(',').map((text) => {
  const [subscriptions, perRow] = text.split('x').map(Number);
  return { subscriptions: subscriptions!, perRow: perRow! };
});
/** Time for confirmations and first polls to settle before the loaded sample. */
const SETTLE_MS = 1500;
/**
 * Memory is the lowest of samples taken once a second over this window (idle, and again loaded):
 * the allocator and V8 give back what a burst of allocation left (freed pages, old-space pages
 * a collection emptied) some seconds after the burst, at a moment that differs from run to run.
 */
const MEMORY_WINDOW_MS = Number(process.env.FANOUT_MEMORY_WINDOW_MS ?? 20_000);

type Scenario = (typeof SCENARIOS)[number];
type System = 'senpuki' | 'reference';

interface Run {
  system: System;
  scenario: Scenario;
  /** Memory added by the second half of the subscriptions, per subscription (see the header). */
  rssPerSubscriptionKiB: number;
  heapPerSubscriptionKiB: number;
  /** Growth from the idle server instead, which start-up memory given back meanwhile can hide. */
  rssFromIdlePerSubscriptionKiB: number;
  heapFromIdlePerSubscriptionKiB: number;
  /** Server CPU while subscribing (to every snapshot) and during the burst (to every terminal event). */
  subscribeCpuMs: number;
  burstCpuMs: number;
  subscribeMs: number;
  delivery: PathResult;
  lastMs: number;
  /** From the first commit (or publish) of the burst to the last. */
  commitSpreadMs: number;
  /** CPU the clients' process spent receiving the burst (the same clients for both systems). */
  clientBurstCpuMs: number;
  redisSubscribers?: number;
  watchedRows?: number;
}

const label = (scenario: Scenario) => `${scenario.subscriptions.toLocaleString('en')} subs, ${scenario.perRow === 1 ? 'one-to-one' : `${scenario.perRow} per row`}`;
const kib = (bytes: number) => bytes / 1024;

async function measure(system: System, scenario: Scenario, server: Child, ids: string[], burst: (ids: string[]) => Promise<number[]>): Promise<Run> {
  const clients = await start(join(HERE, 'fanout', 'clients.ts'));
  try {
    const url = await server.request<string>('url');
    const subscriptionIds = Array.from({ length: scenario.subscriptions }, (_, i) => ids[Math.floor(i / scenario.perRow)]!);
    const half = Math.floor(scenario.subscriptions / 2);
    // Subscribes one share, lets confirmations and first polls settle, then watches memory.
    const load = async (share: string[]) => {
      const before = await server.request<ProcessSample>('sample');
      const subscribing = Date.now();
      await clients.request('subscribe', { url, ids: share, sockets: SOCKETS });
      const ms = Date.now() - subscribing;
      await sleep(SETTLE_MS);
      const after = await server.request<ProcessSample>('sample');
      return { ms, cpuMs: after.cpuMs - before.cpuMs, memory: await settledMemory(server) };
    };
    const idleMemory = await settledMemory(server);
    const firstHalf = await load(subscriptionIds.slice(0, half));
    const secondHalf = await load(subscriptionIds.slice(half));
    const watchedRows = system === 'senpuki' ? await server.request<number>('watchedRows') : undefined;
    const loaded = await server.request<ProcessSample>('sample');
    const clientCpuBefore = await clients.request<number>('cpu');
    const committedAt = await burst(ids);
    const terminalAt = await clients.request<number[]>('terminals');
    const clientBurstCpuMs = (await clients.request<number>('cpu')) - clientCpuBefore;
    const after = await server.request<ProcessSample>('sample');
    const latencies = terminalAt.map((at, i) => at - committedAt[Math.floor(i / scenario.perRow)]!);
    const added = scenario.subscriptions - half;
    const { memory: fullMemory } = secondHalf;
    return {
      system,
      scenario,
      rssPerSubscriptionKiB: kib(fullMemory.rss - firstHalf.memory.rss) / added,
      heapPerSubscriptionKiB: kib(fullMemory.heapUsed - firstHalf.memory.heapUsed) / added,
      rssFromIdlePerSubscriptionKiB: kib(fullMemory.rss - idleMemory.rss) / scenario.subscriptions,
      heapFromIdlePerSubscriptionKiB: kib(fullMemory.heapUsed - idleMemory.heapUsed) / scenario.subscriptions,
      subscribeCpuMs: firstHalf.cpuMs + secondHalf.cpuMs,
      burstCpuMs: after.cpuMs - loaded.cpuMs,
      subscribeMs: firstHalf.ms + secondHalf.ms,
      delivery: summarize(`${system}: ${label(scenario)}`, latencies),
      lastMs: Math.max(...terminalAt) - Math.max(...committedAt),
      commitSpreadMs: Math.max(...committedAt) - Math.min(...committedAt),
      clientBurstCpuMs,
      watchedRows,
    };
  } finally {
    await clients.stop();
  }
}

/** The lowest RSS and heap over MEMORY_WINDOW_MS, sampled once a second (see MEMORY_WINDOW_MS). */
async function settledMemory(server: Child): Promise<{ rss: number; heapUsed: number }> {
  let rss = Infinity;
  let heapUsed = Infinity;
  for (let waited = 0; waited < MEMORY_WINDOW_MS; waited += 1000) {
    await sleep(1000);
    const sample = await server.request<ProcessSample>('sample');
    rss = Math.min(rss, sample.rss);
    heapUsed = Math.min(heapUsed, sample.heapUsed);
  }
  return { rss, heapUsed };
}

let runCount = 0;

async function runSenpuki(scenario: Scenario): Promise<Run> {
  const env = { FANOUT_SCHEMA: `bench_fanout_${process.pid}_${++runCount}` };
  const writer = await start(join(HERE, 'fanout', 'writer.ts'), env);
  let server: Child | undefined;
  try {
    const ids = await writer.request<string[]>('create', { count: scenario.subscriptions / scenario.perRow });
    server = await start(join(HERE, 'fanout', 'senpukiServer.ts'), env, true);
    const run = await measure('senpuki', scenario, server, ids, (rows) => writer.request('burst', { ids: rows }));
    return { ...run, redisSubscribers: await server.request('redisSubscribers') };
  } finally {
    await server?.stop();
    await writer.stop();
  }
}

async function runReference(scenario: Scenario): Promise<Run> {
  const server = await start(join(HERE, 'fanout', 'referenceServer.ts'), {}, true);
  try {
    const ids = Array.from({ length: scenario.subscriptions / scenario.perRow }, () => crypto.randomUUID());
    await server.request('create', { ids });
    return await measure('reference', scenario, server, ids, (rows) => server.request('burst', { ids: rows }));
  } finally {
    await server.stop();
  }
}

const fixed = (value: number, digits = 1) => value.toFixed(digits);

async function main(): Promise<void> {
  const runs: Run[] = [];
  for (const scenario of SCENARIOS) {
    for (const system of ['reference', 'senpuki'] as const) {
      const run = system === 'senpuki' ? await runSenpuki(scenario) : await runReference(scenario);
      runs.push(run);
      console.log(`  ${system}: ${label(scenario)}: ${fixed(run.rssPerSubscriptionKiB)} KiB/sub, last ${Math.round(run.lastMs)} ms`);
    }
  }
  const pairs = SCENARIOS.map((scenario) => {
    const of = (system: System) => runs.find((run) => run.system === system && run.scenario === scenario)!;
    return { scenario, senpuki: of('senpuki'), reference: of('reference') };
  });
  const costHeader = ['scenario', 'system', 'RSS/sub KiB', 'heap/sub KiB', 'subscribe s', 'subscribe CPU ms', 'burst CPU ms', 'clients CPU ms', 'commits ms', 'p50 ms', 'p99 ms', 'last ms'];
  const costRows = runs.map((run) => [
    label(run.scenario),
    run.system === 'senpuki' ? 'Senpuki' : 'yoga + graphql-ws',
    fixed(run.rssPerSubscriptionKiB),
    fixed(run.heapPerSubscriptionKiB),
    fixed(run.subscribeMs / 1000, 2),
    String(Math.round(run.subscribeCpuMs)),
    String(Math.round(run.burstCpuMs)),
    String(Math.round(run.clientBurstCpuMs)),
    String(Math.round(run.commitSpreadMs)),
    fixed(run.delivery.p50Ms!),
    fixed(run.delivery.p99Ms!),
    String(Math.round(run.lastMs)),
  ]);
  const ratioHeader = ['scenario', 'RSS/sub ×ref', 'heap/sub ×ref', 'burst CPU ×ref', 'last ×ref', 'Redis subscribers', 'rows watched'];
  const ratioRows = pairs.map(({ scenario, senpuki, reference }) => [
    label(scenario),
    fixed(senpuki.rssPerSubscriptionKiB / reference.rssPerSubscriptionKiB, 2),
    fixed(senpuki.heapPerSubscriptionKiB / reference.heapPerSubscriptionKiB, 2),
    fixed(senpuki.burstCpuMs / reference.burstCpuMs, 2),
    fixed(senpuki.lastMs / reference.lastMs, 2),
    String(senpuki.redisSubscribers),
    String(senpuki.watchedRows),
  ]);
  const targets = targetRows(pairs);
  await report(
    'fanout',
    'realtime at scale',
    `executionUpdated over ${SOCKETS} graphql-ws sockets, then every row's terminal commit at once; delivery = terminal event − its commit`,
    runs.map((run) => run.delivery),
    { sockets: SOCKETS, scenarios: SCENARIOS, runs: runs.map(({ delivery: _delivery, ...run }) => run) },
    [
      { title: 'server cost per subscription, and delivery after the burst', header: costHeader, rows: costRows },
      { title: 'Senpuki ÷ reference (same run)', header: ratioHeader, rows: ratioRows },
      { title: 'targets (issue 13)', header: ['target', 'measured', ''], rows: targets },
    ],
  );
  const markdown = [
    `Fan-out bench (\`bench/fanout.ts\`), ${new Date().toISOString().slice(0, 10)}, ${machineInfo().cpu}, ${machineInfo().cores} cores, node ${process.version}; ${SOCKETS} graphql-ws sockets.`,
    '',
    table(costHeader, costRows),
    '',
    table(ratioHeader, ratioRows),
    '',
    table(['target', 'measured', ''], targets),
    '',
  ].join('\n');
  await writeFile(join(HERE, 'results', 'fanout.md'), markdown);
  console.log(`wrote ${join(HERE, 'results', 'fanout.md')} (the README's Realtime at scale tables)`);
}

function targetRows(pairs: Array<{ scenario: Scenario; senpuki: Run; reference: Run }>): string[][] {
  const rows: string[][] = [];
  const find = (subscriptions: number, perRow: number) => pairs.find((pair) => pair.scenario.subscriptions === subscriptions && pair.scenario.perRow === perRow);
  const mark = (ok: boolean) => (ok ? '✓' : '✗');
  // RSS that shrank while subscriptions were added measures V8 and the allocator giving memory
  // back, not the subscriptions: no mark then; the heap row beside it is the figure to read.
  const rssMark = (kib: number, ok: boolean) => (kib <= 0 ? 'no figure (RSS fell: see heap)' : mark(ok));
  for (const pair of [find(10_000, 100), find(10_000, 1)]) {
    if (!pair) continue;
    const ratio = pair.senpuki.rssPerSubscriptionKiB / pair.reference.rssPerSubscriptionKiB;
    const heapRatio = pair.senpuki.heapPerSubscriptionKiB / pair.reference.heapPerSubscriptionKiB;
    const rss = pair.senpuki.rssPerSubscriptionKiB;
    rows.push([`RSS/sub ≤ 0.4× reference (${label(pair.scenario)})`, `${fixed(rss)} KiB = ${fixed(ratio, 2)}×`, rssMark(rss, ratio <= 0.4)]);
    rows.push([`heap/sub ≤ 0.4× reference (${label(pair.scenario)})`, `${fixed(pair.senpuki.heapPerSubscriptionKiB)} KiB = ${fixed(heapRatio, 2)}×`, mark(heapRatio <= 0.4)]);
    rows.push([`RSS/sub ≤ 5 KiB, goal (${label(pair.scenario)})`, `${fixed(rss)} KiB`, rssMark(rss, rss <= 5)]);
  }
  const fanIn = find(10_000, 100);
  if (fanIn) rows.push(['100 rows × 100 subscribers: last event ≤ 200 ms after the last commit', `${Math.round(fanIn.senpuki.lastMs)} ms`, mark(fanIn.senpuki.lastMs <= 200)]);
  const oneToOne = find(10_000, 1);
  if (oneToOne) {
    const ratio = oneToOne.senpuki.lastMs / oneToOne.reference.lastMs;
    rows.push(['10,000 one-to-one: last event ≤ 1.0× reference', `${Math.round(oneToOne.senpuki.lastMs)} ms = ${fixed(ratio, 2)}×`, mark(ratio <= 1)]);
  }
  const subscribers = new Set(pairs.map((pair) => pair.senpuki.redisSubscribers));
  rows.push(['exactly one Redis subscriber connection', [...subscribers].join(', '), mark(subscribers.size === 1 && subscribers.has(1))]);
  return rows;
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

/** The Senpuki server runs the package as built, as deployed (see fanout/senpukiServer.ts). */
function build(): void {
  console.log('building the package (npm run build)…');
  const npm = spawnSync('npm', ['run', '-s', 'build'], { cwd: join(HERE, '..'), stdio: ['ignore', 'ignore', 'inherit'] });
  if (npm.status !== 0) throw new Error('npm run build failed');
}

build();
await mkdir(join(HERE, 'results'), { recursive: true });
await main();
