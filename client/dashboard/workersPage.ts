/**
 * The live workers of every process on the store (`workersUpdated`): what each serves (queues,
 * tags, functions) and how busy it is, so an operator sees at a glance why work waits.
 */
import type { Worker } from '../types.js';
import { errorBox, type DashboardContext } from './context.js';
import { h, replaceChildren, type View } from './dom.js';
import { ageElement } from './format.js';
import { progressBar } from './progressBar.js';

function row(worker: Worker): HTMLTableRowElement {
  return h(
    'tr',
    { class: 'row', 'data-worker-id': worker.id },
    h('td', { class: 'mono' }, worker.id),
    h('td', { class: 'progress-cell' }, progressBar(worker.running, worker.concurrency, 'busy', 'RUNNING')),
    h('td', { class: 'num' }, String(worker.suspended)),
    h('td', null, worker.queues.map((queue) => h('span', { class: 'tag' }, queue))),
    h('td', null, worker.tags ? worker.tags.map((tag) => h('span', { class: 'tag' }, tag)) : h('span', { class: 'muted' }, 'any')),
    h('td', { class: 'functions', title: worker.functions.join(', ') }, worker.functions.length ? worker.functions.join(', ') : h('span', { class: 'muted' }, 'none')),
    h('td', { class: 'num' }, ageElement(worker.startedAt)),
  );
}

/** Mounts the workers page. */
export function workersPage(context: DashboardContext): View {
  const controller = new AbortController();
  const tbody = h('tbody');
  const summary = h('span', { class: 'muted' }, 'Loading…');
  const status = h('div', { class: 'list-status' });

  void (async () => {
    try {
      for await (const workers of context.client.workersUpdates({ signal: controller.signal })) {
        const slots = workers.reduce((sum, worker) => sum + worker.concurrency, 0);
        const busy = workers.reduce((sum, worker) => sum + worker.running, 0);
        replaceChildren(summary, `${workers.length} live ${workers.length === 1 ? 'worker' : 'workers'} · ${busy}/${slots} slots busy`);
        replaceChildren(tbody, workers.map(row));
        replaceChildren(
          status,
          workers.length === 0 ? h('div', { class: 'empty' }, 'No live worker: pending executions wait until one starts (senpuki worker, or senpuki serve with a worker).') : null,
        );
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      context.onRequestError(error);
      replaceChildren(status, errorBox(error));
    }
  })();

  const headers = ['Worker', 'Slots', 'Waiting', 'Queues', 'Tags', 'Functions', 'Started'];
  const element = h(
    'div',
    { class: 'page page-workers' },
    h(
      'section',
      { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h1', null, 'Workers'), summary),
      h(
        'div',
        { class: 'table-scroll' },
        h('table', { class: 'grid workers' }, h('thead', null, h('tr', null, headers.map((label) => h('th', { class: label === 'Waiting' || label === 'Started' ? 'num' : undefined }, label)))), tbody),
      ),
      status,
    ),
  );
  return {
    element,
    dispose() {
      controller.abort();
    },
  };
}
