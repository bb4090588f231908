/**
 * The task tree of an execution as an indented table: each task's kind, state, attempts, timings
 * and outcome (result or error) on one line; clicking a row opens its arguments, result and
 * error in full. Which rows are open survives re-renders.
 */
import { buildTaskTree, countTasks, type TaskNode } from '../taskTree.js';
import type { Task } from '../types.js';
import { h, type Child } from './dom.js';
import { ageElement, durationElement, formatJson, formatTimestamp, idCode, jsonPreview, stateBadge } from './format.js';

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
    ),
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
  node.children.forEach((child, index) => rows(child, depth + 1, index === node.children.length - 1, open, onToggle, out));
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
