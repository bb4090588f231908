/** The throughput bench's tables (plain text for the console, markdown for the README) and its targets. */
import { summarize, type machineInfo } from '../lib/report.js';
import type { RunResult, SystemName } from './shape.js';

const LABELS: Record<SystemName, string> = {
  'senpuki-redis': 'Senpuki, Postgres + Redis',
  'senpuki-notify': 'Senpuki, Postgres LISTEN/NOTIFY',
  'senpuki-embedded': 'Senpuki, embedded PGlite',
  'graphile-defaults': 'graphile-worker {v}, defaults',
  'graphile-tuned': 'graphile-worker {v}, localQueue 500 + batched completion',
  bullmq: 'BullMQ {v}, Redis',
};
const SYSTEMS = Object.keys(LABELS) as SystemName[];
const SENPUKI: SystemName[] = ['senpuki-redis', 'senpuki-notify', 'senpuki-embedded'];

interface Context {
  machine: ReturnType<typeof machineInfo>;
  count: number;
  rounds: number;
  backlogs: number[];
  measured: number;
}

const int = (n: number | undefined) => (n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));
const ms = (n: number | undefined) => (n === undefined ? '—' : `${n.toFixed(2)} ms`);
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}×`);
const fixed = (n: number | undefined, digits = 2) => (n === undefined ? '—' : n.toFixed(digits));

function table(header: string[], rows: string[][]): { text: string; markdown: string } {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const text = [line(header), ...rows.map(line)].join('\n');
  const markdown = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
  return { text, markdown };
}

export function renderReport(results: RunResult[], context: Context): { text: string; markdown: string; failed: boolean } {
  const find = (system: SystemName, mode: RunResult['job']['mode'], waiting?: number) => {
    const runs = results.filter((r) => r.job.system === system && r.job.mode === mode && (waiting === undefined || (r.job.mode === 'backlog' && r.job.waiting === waiting)));
    // Several throughput rounds: the median one (by completed/s) stands for the system.
    runs.sort((a, b) => (a.completedPerSecond ?? 0) - (b.completedPerSecond ?? 0));
    return runs[Math.floor((runs.length - 1) / 2)];
  };
  const versions = Object.assign({}, ...results.map((r) => r.versions ?? {})) as Record<string, string>;
  const label = (system: SystemName) => LABELS[system].replace('{v}', versions[system.startsWith('graphile') ? 'graphile-worker' : 'bullmq'] ?? '');
  const rate = (system: SystemName) => find(system, 'throughput')?.completedPerSecond;
  const p50 = (values: number[] | undefined) => (values?.length ? summarize('', values).p50Ms : undefined);
  const startP50 = (system: SystemName) => p50(find(system, 'latency')?.startLatenciesMs);
  const seenP50 = (system: SystemName) => p50(find(system, 'latency')?.seenLatenciesMs);

  const peers = table(
    ['system', 'completed/s', '÷ graphile defaults', 'dispatch → start p50', '÷ BullMQ', 'handler return → completion seen p50'],
    SYSTEMS.map((system) => [
      label(system),
      int(rate(system)),
      ratio(rate(system), rate('graphile-defaults')),
      ms(startP50(system)),
      ratio(startP50(system), startP50('bullmq')),
      system === 'graphile-defaults' || system === 'graphile-tuned' ? '— (keeps no result)' : `${ms(seenP50(system))}${system === 'bullmq' ? ' (QueueEvents)' : ' (waitFor)'}`,
    ]),
  );
  const backlog = table(
    ['backend', ...context.backlogs.map((n) => `${int(n)} waiting`), `${int(context.backlogs.at(-1))} ÷ ${int(context.backlogs[0])}`],
    SENPUKI.map((system) => {
      const rates = context.backlogs.map((n) => find(system, 'backlog', n)?.completedPerSecond);
      return [label(system), ...rates.map(int), ratio(rates.at(-1), rates[0])];
    }),
  );
  const costs = table(
    ['backend', 'statements / execution (dispatch + run)', 'messages / execution', 'round trips / execution', 'one at a time: statements, round trips'],
    SENPUKI.map((system) => {
      const c = find(system, 'throughput')?.costs;
      const single = find(system, 'latency')?.costs;
      return [
        label(system),
        c ? `${fixed(c.dispatchStatements + c.runStatements)} (${fixed(c.dispatchStatements, 3)} + ${fixed(c.runStatements)})` : '—',
        c ? fixed(c.dispatchMessages + c.runMessages) : '—',
        c ? `${fixed(c.dispatchRoundTrips + c.runRoundTrips)} (${fixed(c.dispatchRoundTrips, 3)} + ${fixed(c.runRoundTrips)})` : '—',
        single ? `${fixed(single.runStatements, 1)}, ${fixed(single.runRoundTrips, 1)} (+ ${fixed(single.runSubscriptions * 2, 1)} for the waiter)` : '—',
      ];
    }),
  );

  const redis = rate('senpuki-redis');
  const targets: Array<[string, boolean | undefined, string]> = [
    ['Postgres + Redis completed/s ≥ graphile-worker defaults', ge(redis, rate('graphile-defaults')), ratio(redis, rate('graphile-defaults'))],
    ['goal: within 2× of graphile-worker tuned', ge(redis, half(rate('graphile-tuned'))), ratio(redis, rate('graphile-tuned'))],
    [`Postgres + Redis with ${int(context.backlogs.at(-1))} waiting ≥ 0.8× with ${int(context.backlogs[0])}`, ge(find('senpuki-redis', 'backlog', context.backlogs.at(-1))?.completedPerSecond, scale(find('senpuki-redis', 'backlog', context.backlogs[0])?.completedPerSecond, 0.8)), ratio(find('senpuki-redis', 'backlog', context.backlogs.at(-1))?.completedPerSecond, find('senpuki-redis', 'backlog', context.backlogs[0])?.completedPerSecond)],
    ['dispatch → start p50 ≤ 1.5× BullMQ', ge(scale(startP50('bullmq'), 1.5), startP50('senpuki-redis')), ratio(startP50('senpuki-redis'), startP50('bullmq'))],
    ['handler return → waitFor resolved p50 ≤ 1.5 ms', ge(1.5, seenP50('senpuki-redis')), ms(seenP50('senpuki-redis'))],
    ['embedded store ≥ 1,000 completed/s', ge(rate('senpuki-embedded'), 1000), int(rate('senpuki-embedded'))],
    ['Postgres NOTIFY within 20% of Redis', ge(rate('senpuki-notify'), scale(redis, 0.8)), ratio(rate('senpuki-notify'), redis)],
    ['Redis round trips per single-task execution ≤ 4 (one at a time)', ge(4, find('senpuki-redis', 'latency')?.costs?.runRoundTrips), fixed(find('senpuki-redis', 'latency')?.costs?.runRoundTrips, 1)],
  ];
  const targetLines = targets.map(([name, met, value]) => `${met === undefined ? '?' : met ? '✓' : '✗'} ${name}: ${value}`);

  const { machine } = context;
  const server = Object.entries(versions).filter(([name]) => name === 'postgres' || name === 'redis').map(([name, version]) => `${name === 'postgres' ? 'Postgres' : 'Redis'} ${version}`).join(', ');
  const caption = `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Node ${machine.node}, ${server}; one run: completed/s is the median of ${context.rounds} rounds (the systems taking turns) of ${int(context.count)} jobs enqueued before one worker with concurrency 10 starts; latency p50 of ${results.find((r) => r.job.mode === 'latency')?.startLatenciesMs?.length ?? 0} jobs one at a time after random 5–25 ms idle gaps`;
  const backlogCaption = `completed/s of the first ${int(context.measured)} executions with that many waiting`;
  const costsCaption = 'per single-task execution in the throughput run (batched as it happens when many finish together), and one at a time in the latency run; counted at the store\'s Db and at the notification backend';
  const text = [caption, '', peers.text, '', backlogCaption, backlog.text, '', costsCaption, costs.text, '', 'targets:', ...targetLines].join('\n');
  const markdown = [`_${caption}._`, '', peers.markdown, '', `_${backlogCaption}:_`, '', backlog.markdown, '', `_${costsCaption}:_`, '', costs.markdown, '', ...targetLines.map((line) => `- ${line}`), ''].join('\n');
  const failed = results.length < SYSTEMS.length * context.rounds + SYSTEMS.length - 1 + SENPUKI.length * context.backlogs.length;
  return { text, markdown, failed };
}

function ge(a: number | undefined, b: number | undefined): boolean | undefined {
  return a === undefined || b === undefined ? undefined : a >= b;
}
const half = (n: number | undefined) => scale(n, 0.5);
const scale = (n: number | undefined, by: number) => (n === undefined ? undefined : n * by);
