/**
 * What every latency bench shares: the machine line, percentiles, the table, the JSON result,
 * and the raw Redis PUBLISH → message floor measured in the same run.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

export interface PathResult {
  path: string;
  count: number;
  p50Ms?: number;
  p90Ms?: number;
  p99Ms?: number;
  meanMs?: number;
  maxMs?: number;
  /** Why the path was not measured (service unreachable...). */
  skipped?: string;
}

export interface MeasuredPath {
  path: string;
  /** Latencies in milliseconds, one per sample. */
  measure: () => Promise<number[]>;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

export function summarize(path: string, latencies: number[]): PathResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
  return { path, count: sorted.length, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), meanMs: round(mean), maxMs: round(sorted.at(-1)!) };
}

/** Measures each path in turn (never in parallel: they would skew each other). */
export async function measurePaths(paths: MeasuredPath[]): Promise<PathResult[]> {
  const results: PathResult[] = [];
  for (const { path, measure } of paths) {
    try {
      results.push(summarize(path, await measure()));
    } catch (error) {
      results.push({ path, count: 0, skipped: error instanceof Error ? error.message : String(error) });
    }
  }
  return results;
}

export function machineInfo() {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** A table printed after the latency table (throughput figures, say). */
export interface ExtraTable {
  title: string;
  header: string[];
  rows: string[][];
}

/** Prints a table with its columns aligned (the first left, the others right); returns the first column's width. */
function printTable(header: string[], rows: string[][], minFirstWidth = 0): number {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length), i === 0 ? minFirstWidth : 0));
  for (const row of [header, ...rows]) console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
  return widths[0]!;
}

/** Prints the machine, a percentile table, skipped paths and any extra tables; writes bench/results/<bench>.json. */
export async function report(
  bench: string,
  title: string,
  method: string,
  results: PathResult[],
  settings: Record<string, unknown>,
  extraTables: ExtraTable[] = [],
): Promise<void> {
  const machine = machineInfo();
  console.log(`${title} — ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, node ${machine.node}`);
  console.log(`${method}; milliseconds\n`);
  const header = ['path', 'count', 'p50', 'p90', 'p99', 'mean', 'max'];
  const rows = results.filter((r) => !r.skipped).map((r) => [r.path, String(r.count), ...[r.p50Ms, r.p90Ms, r.p99Ms, r.meanMs, r.maxMs].map((v) => v!.toFixed(3))]);
  const pathWidth = printTable(header, rows, Math.max(0, ...results.map((r) => r.path.length)));
  for (const r of results.filter((r) => r.skipped)) console.log(`${r.path.padEnd(pathWidth)}  skipped: ${r.skipped}`);
  for (const table of extraTables) {
    console.log(`\n${table.title}\n`);
    printTable(table.header, table.rows);
  }
  const file = join(RESULTS_DIR, `${bench}.json`);
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(file, `${JSON.stringify({ bench, date: new Date().toISOString(), machine, ...settings, results }, null, 2)}\n`);
  console.log(`\nwrote ${file}`);
  if (results.some((r) => r.skipped)) process.exitCode = 1;
}

/** The floor: two raw ioredis connections, PUBLISH → 'message', one message in flight. */
export async function rawRedisLatencies(samples: number, warmup: number): Promise<number[]> {
  const subscriber = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const publisher = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const channel = `senpuki:bench:raw:${process.pid}`;
  let arrived: ((at: number) => void) | undefined;
  subscriber.on('message', () => arrived?.(performance.now()));
  try {
    await subscriber.subscribe(channel);
    const latencies: number[] = [];
    for (let i = 0; i < warmup + samples; i++) {
      const received = new Promise<number>((resolve) => (arrived = resolve));
      const started = performance.now();
      await publisher.publish(channel, `{"task_id": "bench-${i}", "state": "completed"}`);
      const at = await received;
      if (i >= warmup) latencies.push(at - started);
    }
    return latencies;
  } finally {
    subscriber.disconnect();
    publisher.disconnect();
  }
}
