/**
 * One execution, live: state, timings, progress, arguments and result or error, the task tree,
 * its streams, and the cancel and signal actions. Everything comes from the SDK's
 * `taskListUpdates`: the execution (`executionUpdated`) and its tasks (`executionTasksUpdated`),
 * both pushed; the streams from `client.stream` (see streamsPanel.ts).
 */
import type { TaskListSnapshot } from '../taskTree.js';
import type { Execution, Task } from '../types.js';
import { errorBox, errorCode, type DashboardContext } from './context.js';
import { h, replaceChildren, type Child, type View } from './dom.js';
import { ageElement, durationElement, formatJson, formatTimestamp, idCode, stateBadge } from './format.js';
import { progressBar } from './progressBar.js';
import { listHref } from './router.js';
import { signalForm } from './signalForm.js';
import { streamsPanel } from './streamsPanel.js';
import { taskTreeTable } from './taskTreeView.js';
import { timeline } from './timeline.js';

/** How long the cancel button waits for its confirming second click. */
const CANCEL_CONFIRM_MS = 4000;

function fact(label: string, value: Child): HTMLElement {
  return h('div', { class: 'fact' }, h('dt', null, label), h('dd', null, value));
}

function jsonBlock(title: string, value: unknown, className = ''): HTMLElement {
  return h('section', { class: `io ${className}` }, h('h3', null, title), h('pre', { class: 'json' }, formatJson(value)));
}

function facts(execution: Execution): HTMLElement {
  const running = execution.state === 'RUNNING' || execution.state === 'CANCELLING';
  const counters = Object.entries((execution.counters ?? {}) as Record<string, number>);
  return h(
    'dl',
    { class: 'facts' },
    fact('Created', h('span', null, ageElement(execution.createdAt), h('span', { class: 'muted small' }, ` · ${formatTimestamp(execution.createdAt)}`))),
    fact('Duration', durationElement(execution.startedAt, execution.finishedAt, running)),
    fact('Started', execution.startedAt ? ageElement(execution.startedAt) : h('span', { class: 'muted' }, 'not yet')),
    fact('Finished', execution.finishedAt ? ageElement(execution.finishedAt) : h('span', { class: 'muted' }, '—')),
    fact('Queue', execution.queue),
    fact('Priority', String(execution.priority)),
    fact('Tags', execution.tags.length ? execution.tags.map((tag) => h('span', { class: 'tag' }, tag)) : h('span', { class: 'muted' }, '—')),
    execution.deadlineAt ? fact('Deadline', ageElement(execution.deadlineAt)) : null,
    execution.idempotencyKey ? fact('Idempotency key', h('code', null, execution.idempotencyKey)) : null,
    counters.length ? fact('Counters', counters.map(([name, value]) => h('span', { class: 'tag' }, `${name} ${value}`))) : null,
    fact('Version', h('span', { class: 'mono' }, String(execution.version))),
  );
}

/** Mounts the page of execution `id`. */
export function executionPage(context: DashboardContext, id: string): View {
  const openTasks = new Set<string>();
  let snapshot: TaskListSnapshot | undefined;
  const controller = new AbortController();
  let confirmTimer: ReturnType<typeof setTimeout> | undefined;

  const head = h('div', { class: 'exec-title' });
  const body = h('div', { class: 'exec-body' }, h('div', { class: 'empty muted' }, 'Loading…'));
  const actionOutcome = h('div', { class: 'action-outcome', 'aria-live': 'polite' });
  // Outside `body`, which each snapshot redraws: a stream's text grows in place.
  const streams = streamsPanel(context, id);
  const signals = signalForm(context, id, (delivery) =>
    replaceChildren(actionOutcome, h('div', { class: 'ok-box' }, delivery.delivered ? 'Signal delivered to its wait.' : 'Signal queued: the next wait of that name receives it.')),
  );
  const signalButton = h('button', { type: 'button', class: 'secondary attention', hidden: true, onclick: () => signals.toggle() }, 'Send signal…');
  const cancelButton = h('button', { type: 'button', class: 'danger', onclick: () => void cancel() }, 'Cancel');

  async function cancel(): Promise<void> {
    if (!cancelButton.classList.contains('confirm')) {
      cancelButton.classList.add('confirm');
      cancelButton.textContent = 'Confirm cancel';
      confirmTimer = setTimeout(resetCancel, CANCEL_CONFIRM_MS);
      return;
    }
    resetCancel();
    cancelButton.disabled = true;
    try {
      await context.client.cancel(id);
      replaceChildren(actionOutcome);
    } catch (error) {
      context.onRequestError(error);
      replaceChildren(actionOutcome, errorBox(error));
      cancelButton.disabled = false;
    }
  }

  function resetCancel(): void {
    clearTimeout(confirmTimer);
    cancelButton.classList.remove('confirm');
    cancelButton.textContent = 'Cancel';
  }

  function render(): void {
    if (!snapshot) return;
    const { execution, tasks } = snapshot;
    const waitingSignal = tasks.find((task: Task) => task.kind === 'SIGNAL' && task.state === 'WAITING');
    signals.suggest(waitingSignal?.function);
    // Offered while a wait is open: a signal sent at any other time only queues, which is rarely what was meant.
    signalButton.hidden = !waitingSignal || execution.terminal;
    signalButton.textContent = waitingSignal ? `Send signal "${waitingSignal.function}"…` : 'Send signal…';
    if (!waitingSignal) signals.hide();
    cancelButton.disabled = execution.terminal || execution.state === 'CANCELLING';
    if (execution.terminal) signals.hide();
    streams.update(execution.terminal);
    replaceChildren(head, stateBadge(execution.state), h('h1', null, execution.function), idCode(execution.id, false));

    const tree = taskTreeTable(tasks, openTasks, (taskId) => {
      if (!openTasks.delete(taskId)) openTasks.add(taskId);
      render();
    });
    replaceChildren(
      body,
      execution.waitingReason ? h('div', { class: 'warning-box', role: 'status' }, h('strong', null, 'Waiting: '), execution.waitingReason) : null,
      h(
        'div',
        { class: 'exec-top' },
        h('section', { class: 'panel' }, facts(execution)),
        h(
          'section',
          { class: 'panel exec-progress' },
          h('h3', null, 'Progress'),
          execution.progress
            ? progressBar(execution.progress.done, execution.progress.total, execution.progress.message, execution.state, true)
            : h('p', { class: 'muted small' }, 'The function reports none (ctx.progress).'),
          h('h3', null, 'Tasks'),
          tasks.length ? progressBar(tasks.filter((task) => task.terminal).length, tasks.length, null, execution.state, true) : h('p', { class: 'muted small' }, 'Loading…'),
        ),
      ),
      h(
        'div',
        { class: 'io-pair' },
        jsonBlock('Arguments', execution.args),
        execution.error
          ? h('section', { class: 'io failed' }, h('h3', null, 'Error'), h('pre', { class: 'json error-text' }, `${execution.error.name}: ${execution.error.message}${execution.error.data != null ? `\n${formatJson(execution.error.data)}` : ''}`))
          : execution.state === 'COMPLETED'
            ? jsonBlock('Result', execution.result, 'completed')
            : h('section', { class: 'io' }, h('h3', null, 'Result'), h('p', { class: 'muted' }, execution.terminal ? 'none' : 'not yet')),
        execution.customState != null ? jsonBlock('Custom state', execution.customState) : null,
      ),
      h('section', { class: 'panel tasks-panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Task tree'), h('span', { class: 'muted' }, tree.summary)), h('div', { class: 'table-scroll' }, tree.table)),
      h('section', { class: 'panel timeline-panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Timeline'), h('span', { class: 'muted' }, 'each task\'s runs on one time axis; gaps between runs are retry delays')), timeline(execution, tasks)),
    );
  }

  void (async () => {
    try {
      // Ends by itself after the terminal state (and its settled tasks) has been shown.
      for await (const next of context.client.taskListUpdates(id, { signal: controller.signal })) {
        snapshot = next;
        render();
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      context.onRequestError(error);
      replaceChildren(body, errorCode(error) === 'NOT_FOUND' ? h('div', { class: 'empty' }, `No execution with id ${id}. It may have been removed by retention.`) : errorBox(error));
    }
  })();

  const element = h(
    'div',
    { class: 'page page-execution' },
    h('nav', { class: 'crumbs' }, h('a', { href: listHref() }, '← Executions')),
    h('div', { class: 'exec-head' }, head, h('div', { class: 'actions' }, signalButton, cancelButton)),
    signals.element,
    actionOutcome,
    body,
    streams.element,
  );
  return {
    element,
    dispose() {
      clearTimeout(confirmTimer);
      controller.abort();
      streams.dispose();
    },
  };
}
