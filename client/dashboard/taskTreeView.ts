/**
 * The task tree of an execution as an indented table: each task's kind, state, attempts, timings
 * and outcome (result or error) on one line; clicking a row opens its arguments, result and
 * error in full. Which rows are open survives re-renders.
 */
import { buildTaskTree, countTasks, type TaskNode } from '../taskTree.js';
import type { Task } from '../types.js';
import { h, type Child } from './dom.js';
import { ageElement, durationElement, formatJson, formatTimestamp, idCode, jsonPreview, stateBadge } from './format.js';
import { progressBar } from './progressBar.js';
import { runsTable } from './timeline.js';

const KIND_ICONS: Record<Task['kind'], string> = { FUNCTION: 'ƒ', SLEEP: '◷', SIGNAL: '⚑' };
/** Indentation per tree level. */
const INDENT_PX = 18;

function taskTitle(task: Task): Child[] {
  if (task.kind === 'SLEEP') return [h('span', { class: 'task-name' }, 'sleep'), h('span', { class: 'muted' }, ' until ', ageElement(task.scheduledFor))];
  if (task.kind === 'SIGNAL') return [h('span', { class: 'muted' }, 'signal '), h('span', { class: 'task-name' }, task.function)];
  return [h('span', { class: 'task-name' }, task.function)];
}

/** "↻ 2 retries": a completed task keeps the error of its last failed attempt (in the title). */
function retryNote(task: Task): Child {
  if (task.attempt <= 1) return null;
  const retries = task.attempt - 1;
  return h('span', { class: 'retry-note', title: task.error ? `last error: ${task.error.name}: ${task.error.message}` : undefined }, `↻ ${retries} ${retries === 1 ? 'retry' : 'retries'} `);
}

function outcome(task: Task): Child {
  if (task.state === 'COMPLETED') return [retryNote(task), h('span', { class: 'mono muted' }, jsonPreview(task.result, 60))];
  if (task.error) return h('span', { class: 'error-text', title: task.error.message }, `${task.error.name}: ${task.error.message}`);
  if (task.state === 'PENDING' && task.attempt > 1) return h('span', { class: 'muted' }, 'retry ', ageElement(task.scheduledFor));
  if (task.state === 'WAITING' && task.kind === 'FUNCTION') return h('span', { class: 'muted' }, 'waiting on its calls');
  if (task.state === 'WAITING' && task.kind === 'SIGNAL') return h('span', { class: 'muted' }, `waiting for signal "${task.function}"`);
  return null;
}

function errorText(task: Task): HTMLElement {
  const error = task.error!;
  return h('pre', { class: 'json error-text' }, `${error.name}: ${error.message}${error.data != null ? `\n${formatJson(error.data)}` : ''}`);
}

function detail(label: string, value: Child): HTMLElement {
  return h('div', { class: 'detail' }, h('div', { class: 'detail-label' }, label), h('div', { class: 'detail-value' }, value));
}

function detailsRow(task: Task): HTMLTableRowElement {
  return h(
    'tr',
    { class: 'task-details' },
    h(
      'td',
      { colspan: '6' },
      h(
        'div',
        { class: 'details-grid' },
        detail('Task', idCode(task.id, false)),
        detail('Call key', task.callKey ? h('code', null, task.callKey) : '—'),
        detail('Queue', task.queue),
        detail('Created', formatTimestamp(task.createdAt)),
        detail('Started', formatTimestamp(task.startedAt)),
        detail('Finished', formatTimestamp(task.finishedAt)),
        detail('Scheduled for', formatTimestamp(task.scheduledFor)),
        detail('Version', String(task.version)),
      ),
      h(
        'div',
        { class: 'json-pair' },
        detail('Arguments', h('pre', { class: 'json' }, formatJson(task.args))),
        task.state === 'COMPLETED' || !task.error
          ? detail('Result', task.state === 'COMPLETED' ? h('pre', { class: 'json' }, formatJson(task.result)) : h('span', { class: 'muted' }, task.terminal ? 'none' : 'not yet'))
          : null,
        task.error ? detail(task.state === 'COMPLETED' ? `Error of attempt ${task.attempt - 1}` : 'Error', errorText(task)) : null,
      ),
      task.kind === 'FUNCTION' ? detail('Runs', runsTable(task)) : null,
    ),
  );
}

/** Calls of one function from one parent shown as one group row at least this many (a fan-out). */
export const FANOUT_GROUP_MIN = 5;

/** What a parent's children are drawn as: single tasks, or a fan-out of one function. */
type ChildEntry = { node: TaskNode } | { group: TaskNode[]; key: string };

/** A parent's children, with each function called FANOUT_GROUP_MIN times or more folded into one group (at its first call's place). */
function childEntries(node: TaskNode): ChildEntry[] {
  const byFunction = new Map<string, TaskNode[]>();
  for (const child of node.children) {
    if (child.task.kind !== 'FUNCTION') continue;
    const list = byFunction.get(child.task.function) ?? [];
    list.push(child);
    byFunction.set(child.task.function, list);
  }
  const entries: ChildEntry[] = [];
  const placed = new Set<string>();
  for (const child of node.children) {
    const siblings = child.task.kind === 'FUNCTION' ? byFunction.get(child.task.function)! : [];
    if (siblings.length < FANOUT_GROUP_MIN) entries.push({ node: child });
    else if (!placed.has(child.task.function)) {
      placed.add(child.task.function);
      entries.push({ group: siblings, key: `group:${node.task.id}:${child.task.function}` });
    }
  }
  return entries;
}

/** One row for a fan-out: the function, how many calls, their states, and a bar of finished over total. */
function groupRow(group: TaskNode[], key: string, depth: number, last: boolean, open: Set<string>, onToggle: (id: string) => void): HTMLTableRowElement {
  const tasks = group.map((node) => node.task);
  const counts = countTasks(tasks);
  const states = Object.entries(counts.byState)
    .filter(([, count]) => count > 0)
    .map(([state, count]) => `${count} ${state.toLowerCase()}`)
    .join(' · ');
  const state: Task['state'] = counts.byState.FAILED ? 'FAILED' : counts.byState.RUNNING ? 'RUNNING' : counts.finished === counts.total ? 'COMPLETED' : 'PENDING';
  const branch = h('span', { class: 'branch', 'aria-hidden': 'true' }, last ? '└' : '├');
  const nameCell = h(
    'td',
    { class: 'task-cell' },
    h('div', { class: 'task-name-wrap' }, branch, h('span', { class: 'toggle', 'aria-hidden': 'true' }, open.has(key) ? '▾' : '▸'), h('span', { class: 'kind kind-function' }, KIND_ICONS.FUNCTION), h('span', { class: 'task-name' }, tasks[0]!.function), h('span', { class: 'muted' }, ` × ${tasks.length}`)),
  );
  nameCell.style.paddingLeft = `${10 + Math.max(0, depth - 1) * INDENT_PX}px`;
  const started = tasks.map((task) => task.startedAt).filter((at): at is string => !!at).sort()[0] ?? null;
  const finished = counts.finished === counts.total ? tasks.map((task) => task.finishedAt ?? '').sort().at(-1) ?? null : null;
  return h(
    'tr',
    {
      class: `row task-row fanout-row${open.has(key) ? ' open' : ''}`,
      'data-group': tasks[0]!.function,
      'data-state': state,
      tabindex: '0',
      'aria-expanded': String(open.has(key)),
      onclick: () => onToggle(key),
      onkeydown: (event: KeyboardEvent) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          onToggle(key);
        }
      },
    },
    nameCell,
    h('td', null, stateBadge(state)),
    h('td', { class: 'num' }, ''),
    h('td', { class: 'num' }, ageElement(started)),
    h('td', { class: 'num' }, durationElement(started, finished, finished === null && started !== null)),
    h('td', { class: 'outcome' }, progressBar(counts.finished, counts.total, states, state)),
  );
}

function rows(node: TaskNode, depth: number, last: boolean, open: Set<string>, onToggle: (id: string) => void, out: HTMLTableRowElement[]): void {
  const { task } = node;
  const branch = depth > 0 ? h('span', { class: 'branch', 'aria-hidden': 'true' }, last ? '└' : '├') : null;
  const nameCell = h('td', { class: 'task-cell' }, h('div', { class: 'task-name-wrap' }, branch, h('span', { class: `kind kind-${task.kind.toLowerCase()}`, title: task.kind.toLowerCase() }, KIND_ICONS[task.kind]), ...taskTitle(task)));
  nameCell.style.paddingLeft = `${10 + Math.max(0, depth - 1) * INDENT_PX}px`;
  const attempts = task.kind === 'FUNCTION' ? `${task.attempt}/${task.maxAttempts}` : '';
  out.push(
    h(
      'tr',
      {
        class: `row task-row${open.has(task.id) ? ' open' : ''}${depth > 0 ? ' child' : ''}`,
        'data-task-id': task.id,
        'data-state': task.state,
        tabindex: '0',
        'aria-expanded': String(open.has(task.id)),
        onclick: () => onToggle(task.id),
        onkeydown: (event: KeyboardEvent) => {
          if (event.key === 'Enter' || event.key === ' ') {
            event.preventDefault();
            onToggle(task.id);
          }
        },
      },
      nameCell,
      h('td', null, stateBadge(task.state)),
      h('td', { class: `num${task.attempt > 1 ? ' retried' : ''}`, title: task.kind === 'FUNCTION' ? 'attempt / max attempts' : undefined }, attempts),
      h('td', { class: 'num' }, ageElement(task.startedAt)),
      h('td', { class: 'num' }, durationElement(task.startedAt, task.finishedAt, task.state === 'RUNNING' || task.state === 'WAITING')),
      h('td', { class: 'outcome' }, outcome(task)),
    ),
  );
  if (open.has(task.id)) out.push(detailsRow(task));
  const entries = childEntries(node);
  entries.forEach((entry, index) => {
    const lastEntry = index === entries.length - 1;
    if ('node' in entry) return rows(entry.node, depth + 1, lastEntry, open, onToggle, out);
    out.push(groupRow(entry.group, entry.key, depth + 1, lastEntry, open, onToggle));
    if (open.has(entry.key)) entry.group.forEach((child, childIndex) => rows(child, depth + 2, childIndex === entry.group.length - 1, open, onToggle, out));
  });
}

/** The tree as table rows, plus a one-line summary of task counts. */
export function taskTreeTable(tasks: readonly Task[], open: Set<string>, onToggle: (id: string) => void): { table: HTMLElement; summary: string } {
  const out: HTMLTableRowElement[] = [];
  for (const root of buildTaskTree(tasks)) rows(root, 0, true, open, onToggle, out);
  const counts = countTasks(tasks);
  const parts = Object.entries(counts.byState)
    .filter(([, count]) => count > 0)
    .map(([state, count]) => `${count} ${state.toLowerCase()}`);
  const table = h(
    'table',
    { class: 'grid tasks' },
    h('thead', null, h('tr', null, h('th', null, 'Task'), h('th', null, 'State'), h('th', { class: 'num' }, 'Attempt'), h('th', { class: 'num' }, 'Started'), h('th', { class: 'num' }, 'Duration'), h('th', null, 'Outcome'))),
    h('tbody', null, out),
  );
  return { table, summary: `${counts.finished}/${counts.total} finished${parts.length ? ` · ${parts.join(' · ')}` : ''}` };
}
