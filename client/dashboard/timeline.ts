/**
 * An execution's timeline: one row per task, its runs as bars on a shared time axis, coloured by
 * how each ended (completed, retried, failed, lost with its worker…). The gap between a retried
 * run and the next is the retry delay; a pale bar before the first run is the time it waited.
 */
import type { Execution, Task } from '../types.js';
import { h, type Child } from './dom.js';
import { formatDurationMs, formatTimestamp } from './format.js';

/** Rows drawn at most (the task tree lists every task). */
export const MAX_TIMELINE_ROWS = 200;

type Run = Task['runs'][number];

interface Segment {
  from: number;
  to: number;
  /** Class of the bar: an outcome, `waiting` (due, not yet started), `running`, or `sleeping`. */
  kind: string;
  title: string;
}

const ms = (iso: string | null | undefined): number | undefined => (iso ? Date.parse(iso) : undefined);

function runSegment(run: Run, fallbackStart: number): Segment {
  const from = ms(run.startedAt) ?? fallbackStart;
  const to = Date.parse(run.finishedAt);
  const error = run.error ? `: ${run.error.name}: ${run.error.message}` : '';
  return { from, to, kind: run.outcome.toLowerCase(), title: `attempt ${run.attempt} ${run.outcome.toLowerCase()} after ${formatDurationMs(to - from)}${error}` };
}

/** The bars of one task, up to `now`. */
export function taskSegments(task: Task, now: number): Segment[] {
  const created = Date.parse(task.createdAt);
  if (task.kind !== 'FUNCTION') {
    const end = ms(task.finishedAt) ?? now;
    return [{ from: created, to: end, kind: task.kind === 'SLEEP' ? 'sleeping' : 'signal', title: `${task.kind === 'SLEEP' ? 'sleep' : `waiting for signal "${task.function}"`} ${formatDurationMs(end - created)}` }];
  }
  const segments: Segment[] = [];
  const firstStart = ms(task.runs[0]?.startedAt) ?? ms(task.startedAt);
  const waitedUntil = firstStart ?? (task.terminal ? ms(task.finishedAt) ?? now : now);
  if (waitedUntil > created) segments.push({ from: created, to: waitedUntil, kind: 'waiting', title: `waited ${formatDurationMs(waitedUntil - created)} to start` });
  let previousEnd = firstStart ?? created;
  for (const run of task.runs) {
    const segment = runSegment(run, previousEnd);
    segments.push(segment);
    previousEnd = segment.to;
  }
  if (task.state === 'RUNNING' || task.state === 'WAITING') {
    // The run under way: since the last one ended (or the retry came due), or since its start.
    const from = task.runs.length ? Math.max(previousEnd, Date.parse(task.scheduledFor)) : (ms(task.startedAt) ?? now);
    segments.push({ from, to: now, kind: 'running', title: `attempt ${task.attempt} ${task.state === 'WAITING' ? 'waiting on its calls' : 'running'} for ${formatDurationMs(now - from)}` });
  }
  return segments;
}

/** The timeline of `execution` over `tasks` (flat, parents first). */
export function timeline(execution: Execution, tasks: readonly Task[], now = Date.now()): HTMLElement {
  const start = Date.parse(execution.createdAt);
  const end = Math.max(ms(execution.finishedAt) ?? now, start + 1);
  const span = end - start;
  const place = (segment: Segment): HTMLElement => {
    const bar = h('span', { class: `tl-bar tl-${segment.kind}`, title: `${segment.title} (${formatTimestamp(new Date(segment.from).toISOString())})` });
    bar.style.left = `${(((segment.from - start) / span) * 100).toFixed(2)}%`;
    bar.style.width = `${Math.max(0.3, ((segment.to - segment.from) / span) * 100).toFixed(2)}%`;
    return bar;
  };
  const rows: Child[] = tasks.slice(0, MAX_TIMELINE_ROWS).map((task) =>
    h(
      'div',
      { class: 'tl-row', 'data-task-id': task.id },
      h('span', { class: 'tl-label', title: task.function }, task.kind === 'FUNCTION' ? task.function : task.kind === 'SLEEP' ? 'sleep' : `signal ${task.function}`),
      h('span', { class: 'tl-track' }, taskSegments(task, now).map(place)),
    ),
  );
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((fraction) => {
    const tick = h('span', { class: 'tl-tick' }, formatDurationMs(span * fraction));
    tick.style.left = `${fraction * 100}%`;
    return tick;
  });
  const legend = ['waiting', 'running', 'completed', 'retried', 'failed', 'lost'].map((kind) => h('span', { class: 'tl-key' }, h('span', { class: `tl-swatch tl-${kind}` }), kind));
  return h(
    'div',
    { class: 'timeline' },
    h('div', { class: 'tl-legend muted small' }, legend, tasks.length > MAX_TIMELINE_ROWS ? ` · the first ${MAX_TIMELINE_ROWS} of ${tasks.length} tasks` : null),
    rows,
    h('div', { class: 'tl-row tl-axis' }, h('span', { class: 'tl-label' }), h('span', { class: 'tl-track' }, ticks)),
  );
}

/** A task's runs as a table: attempt, outcome, start, duration, worker and error. */
export function runsTable(task: Task): HTMLElement {
  if (task.runs.length === 0) return h('span', { class: 'muted' }, task.state === 'RUNNING' ? 'its first run is under way' : 'no run has finished yet');
  return h(
    'table',
    { class: 'grid runs' },
    h('thead', null, h('tr', null, ['Attempt', 'Outcome', 'Started', 'Took', 'Worker', 'Error'].map((label) => h('th', null, label)))),
    h(
      'tbody',
      null,
      task.runs.map((run) =>
        h(
          'tr',
          { 'data-outcome': run.outcome },
          h('td', { class: 'num' }, String(run.attempt)),
          h('td', null, h('span', { class: `run-outcome tl-${run.outcome.toLowerCase()}` }, run.outcome.toLowerCase())),
          h('td', null, formatTimestamp(run.startedAt)),
          h('td', { class: 'num' }, run.startedAt ? formatDurationMs(Date.parse(run.finishedAt) - Date.parse(run.startedAt)) : '—'),
          h('td', { class: 'mono small' }, run.worker ?? '—'),
          h('td', { class: 'error-text' }, run.error ? `${run.error.name}: ${run.error.message}` : ''),
        ),
      ),
    ),
  );
}
