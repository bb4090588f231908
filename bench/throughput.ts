/**
 * Throughput and latency of the engine's hot path, against graphile-worker and BullMQ measured in
 * the same run (see bench/throughput/shape.ts for the shape every system runs):
 *
 * 1. completed/s: 5,000 trivial single-task jobs enqueued before one worker (concurrency 10)
 *    starts, from the first start until all are stored as completed;
 * 2. latency: one job at a time after a random idle gap, dispatch → start, and handler return →
 *    completion seen by the caller (`waitFor`; BullMQ: QueueEvents; graphile-worker keeps no result);
 * 3. Senpuki's completed/s with 1,000 / 10,000 / 100,000 executions waiting, per backend;
 * 4. Postgres statements and notification messages and round trips per execution.
 *
 *   npm run bench            (all benches)     tsx bench/throughput.ts   (this one)
 *   THROUGHPUT_COUNT, THROUGHPUT_ROUNDS, BACKLOGS (e.g. "1000,10000"), BACKLOG_MEASURED, LATENCY_SAMPLES resize it.
 *
 * The peers live in bench/peers (their own package.json and lockfile), installed here on first
 * use with `npm ci`: they are never dependencies of the product.
 */
import { fork, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo, summarize } from './lib/report.js';
import { LATENCY_SAMPLES, type Job, type RunResult, type SystemName } from './throughput/shape.js';
import { renderReport } from './throughput/table.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const PEERS_DIR = join(HERE, 'peers');
const RESULTS_DIR = join(HERE, 'results');
const COUNT = Number(process.env.THROUGHPUT_COUNT ?? 5000);
const BACKLOGS = (process.env.BACKLOGS ?? '1000,10000,100000').split(',').map(Number);
const BACKLOG_MEASURED = Number(process.env.BACKLOG_MEASURED ?? 1000);
/** Throughput rounds; the table shows each system's median round. */
const ROUNDS = Number(process.env.THROUGHPUT_ROUNDS ?? 3);

const SENPUKI: SystemName[] = ['senpuki-redis', 'senpuki-notify', 'senpuki-embedded'];
const PEERS: SystemName[] = ['graphile-defaults', 'graphile-tuned', 'bullmq'];

function installPeers(): void {
  if (existsSync(join(PEERS_DIR, 'node_modules', 'graphile-worker')) && existsSync(join(PEERS_DIR, 'node_modules', 'bullmq'))) return;
  console.log('installing the peers in bench/peers (npm ci)…');
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: PEERS_DIR, stdio: 'inherit' });
  if (npm.status !== 0) throw new Error('npm ci in bench/peers failed');
}

/** One job in its own child process; undefined (and a message) when it failed. */
function runJob(job: Job): Promise<RunResult | undefined> {
  const file = join(HERE, 'throughput', job.system.startsWith('senpuki') ? 'senpukiRun.ts' : 'peersRun.ts');
  return new Promise((resolve) => {
    let result: RunResult | undefined;
    const child = fork(file, [JSON.stringify(job)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (message) => (result = message as RunResult));
    child.on('exit', (code) => {
      if (!result) console.error(`  ${job.system} ${job.mode}: failed (exit ${code})`);
      resolve(result);
    });
  });
}

async function main(): Promise<number> {
  installPeers();
  const results: RunResult[] = [];
  const run = async (job: Job) => {
    const label = job.mode === 'backlog' ? `${job.system} with ${job.waiting} waiting` : `${job.system} ${job.mode}`;
    process.stdout.write(`  ${label}…`);
    const result = await runJob(job);
    if (result) {
      results.push(result);
      const rate = result.completedPerSecond === undefined ? '' : ` ${Math.round(result.completedPerSecond)}/s`;
      const start = result.startLatenciesMs?.length ? ` start p50 ${summarize('', result.startLatenciesMs).p50Ms} ms` : '';
      console.log(`${rate}${start}`);
    }
  };
  // Round-robin over the systems, several rounds, each system's median kept: a change in the
  // machine's load during the run touches every system alike.
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`round ${round} of ${ROUNDS}`);
    for (const system of [...PEERS, ...SENPUKI]) await run({ mode: 'throughput', system, count: COUNT });
  }
  for (const system of ['bullmq', 'graphile-defaults', ...SENPUKI] as SystemName[]) await run({ mode: 'latency', system, samples: LATENCY_SAMPLES });
  for (const waiting of BACKLOGS) {
    for (const system of SENPUKI) await run({ mode: 'backlog', system, waiting, measured: Math.min(BACKLOG_MEASURED, waiting) });
  }
  const machine = machineInfo();
  const { text, markdown, failed } = renderReport(results, { machine, count: COUNT, backlogs: BACKLOGS, measured: BACKLOG_MEASURED, rounds: ROUNDS });
  console.log(`\n${text}`);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(join(RESULTS_DIR, 'throughput.json'), `${JSON.stringify({ bench: 'throughput', date: new Date().toISOString(), machine, results }, null, 2)}\n`);
  await writeFile(join(RESULTS_DIR, 'throughput.md'), markdown);
  console.log(`wrote ${join(RESULTS_DIR, 'throughput.json')} and throughput.md (the README's Performance tables)`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
