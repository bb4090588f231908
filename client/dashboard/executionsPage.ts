/**
 * The list of executions, live (`executionsUpdated` through the SDK's `executionListUpdates`),
 * filterable by state, function and tag, with the dispatch form beside it. Filters live in the
 * hash, so a reload or a shared link shows the same view.
 */
import type { Execution, ExecutionFilter, ExecutionState } from '../types.js';
import type { DashboardContext } from './context.js';
import { errorBox } from './context.js';
import { dispatchForm } from './dispatchForm.js';
import { h, replaceChildren, type View } from './dom.js';
import { ageElement, durationElement, EXECUTION_STATES, idCode, stateBadge, stateLabel } from './format.js';
import { progressBar } from './progressBar.js';
import { executionHref, executionsHref, replaceHash } from './router.js';

/** Rows shown at first, and how many more "show more" adds (the API pages up to 200). */
export const DEFAULT_LIST_SIZE = 50;
export const MAX_LIST_SIZE = 200;
/** Typing in the tag filter waits this long before the list is re-read. */
export const TAG_FILTER_DEBOUNCE_MS = 300;

interface Filters {
  states: ExecutionState[];
  fn: string;
  tag: string;
}

function readFilters(query: URLSearchParams): Filters {
  const states = (query.get('state') ?? '').split(',').filter((state): state is ExecutionState => (EXECUTION_STATES as string[]).includes(state));
  return { states, fn: query.get('function') ?? '', tag: query.get('tag') ?? '' };
}

function toQuery(filters: Filters): URLSearchParams {
  const query = new URLSearchParams();
  if (filters.states.length) query.set('state', filters.states.join(','));
  if (filters.fn) query.set('function', filters.fn);
  if (filters.tag) query.set('tag', filters.tag);
  return query;
}

function toFilter(filters: Filters): ExecutionFilter | undefined {
  const filter: ExecutionFilter = {};
  if (filters.states.length) filter.state = filters.states;
  if (filters.fn) filter.function = filters.fn;
  if (filters.tag) filter.tag = filters.tag;
  return Object.keys(filter).length ? filter : undefined;
}

function executionRow(execution: Execution, flash: boolean): HTMLTableRowElement {
  const href = executionHref(execution.id);
  const running = execution.state === 'RUNNING' || execution.state === 'CANCELLING';
  return h(
    'tr',
    { class: flash ? 'row flash' : 'row', 'data-id': execution.id, 'data-state': execution.state, onclick: (event: MouseEvent) => {
      if (!(event.target as Element).closest('a')) location.hash = href;
    } },
    h('td', null, stateBadge(execution.state)),
    h('td', { class: 'fn' }, h('a', { href }, execution.function)),
    h('td', null, idCode(execution.id)),
    h('td', { class: 'tags' }, execution.tags.map((tag) => h('span', { class: 'tag' }, tag))),
    h('td', { class: 'progress-cell' }, execution.progress ? progressBar(execution.progress.done, execution.progress.total, execution.progress.message, execution.state) : null),
    h('td', { class: 'num' }, ageElement(execution.createdAt)),
    h('td', { class: 'num' }, durationElement(execution.startedAt, execution.finishedAt, running)),
  );
}

/** Mounts the list page with the filters in `query`. */
export function executionsPage(context: DashboardContext, query: URLSearchParams): View {
  const filters = readFilters(query);
  let limit = DEFAULT_LIST_SIZE;
  let controller: AbortController | undefined;
  let tagTimer: ReturnType<typeof setTimeout> | undefined;

  const tbody = h('tbody');
  const status = h('div', { class: 'list-status' });
  const countLabel = h('span', { class: 'muted count' });
  const more = h('button', { class: 'link-button', type: 'button', hidden: true, onclick: () => {
    limit = Math.min(MAX_LIST_SIZE, limit + DEFAULT_LIST_SIZE);
    subscribe();
  } }, 'Show more');

  const stateChips = h('div', { class: 'chips', role: 'group', 'aria-label': 'Filter by state' });
  const renderChips = () =>
    replaceChildren(
      stateChips,
      h('button', { type: 'button', class: `chip${filters.states.length === 0 ? ' on' : ''}`, onclick: () => setFilters({ states: [] }) }, 'all'),
      EXECUTION_STATES.map((state) =>
        h('button', {
          type: 'button',
          class: `chip chip-${state.toLowerCase()}${filters.states.includes(state) ? ' on' : ''}`,
          'data-state': state,
          'aria-pressed': String(filters.states.includes(state)),
          onclick: () => setFilters({ states: filters.states.includes(state) ? filters.states.filter((s) => s !== state) : [...filters.states, state] }),
        }, stateLabel(state)),
      ),
    );

  const functionSelect = h('select', { name: 'filterFunction', 'aria-label': 'Filter by function', onchange: () => setFilters({ fn: functionSelect.value }) },
    h('option', { value: '' }, 'all functions'));
  const tagInput = h('input', { type: 'search', name: 'filterTag', placeholder: 'tag', value: filters.tag, 'aria-label': 'Filter by tag', oninput: () => {
    clearTimeout(tagTimer);
    tagTimer = setTimeout(() => setFilters({ tag: tagInput.value.trim() }), TAG_FILTER_DEBOUNCE_MS);
  } });
  void context.functions().then((functions) => {
    for (const fn of functions) functionSelect.append(h('option', { value: fn.name, selected: fn.name === filters.fn }, fn.name));
    // A filter on a function this server does not know still works; keep it selectable.
    if (filters.fn && !functions.some((fn) => fn.name === filters.fn)) functionSelect.append(h('option', { value: filters.fn, selected: true }, filters.fn));
  }, () => {});

  function setFilters(change: Partial<Filters>): void {
    Object.assign(filters, change);
    replaceHash(executionsHref(toQuery(filters)));
    renderChips();
    limit = DEFAULT_LIST_SIZE;
    subscribe();
  }

  function render(executions: Execution[], changedId: string | undefined): void {
    const filtered = toFilter(filters) !== undefined;
    replaceChildren(tbody, executions.map((execution) => executionRow(execution, execution.id === changedId)));
    countLabel.textContent = executions.length ? `${executions.length}${executions.length >= limit ? '+' : ''} shown` : '';
    more.hidden = executions.length < limit || limit >= MAX_LIST_SIZE;
    replaceChildren(
      status,
      executions.length === 0
        ? h('div', { class: 'empty' }, filtered ? 'No executions match these filters.' : 'No executions yet. Dispatch one with the form.')
        : null,
    );
  }

  async function subscribe(): Promise<void> {
    controller?.abort();
    const current = new AbortController();
    controller = current;
    replaceChildren(status, h('div', { class: 'empty muted' }, 'Loading…'));
    try {
      for await (const snapshot of context.client.executionListUpdates(toFilter(filters), { first: limit, signal: current.signal })) {
        if (current.signal.aborted) return;
        render(snapshot.executions, snapshot.changed?.id);
      }
    } catch (error) {
      if (current.signal.aborted) return;
      context.onRequestError(error);
      replaceChildren(status, errorBox(error));
    }
  }

  renderChips();
  const form = dispatchForm(context);
  const element = h(
    'div',
    { class: 'page page-executions' },
    h(
      'section',
      { class: 'panel list-panel' },
      h('div', { class: 'panel-head' }, h('h1', null, 'Executions'), countLabel),
      h('div', { class: 'filters' }, stateChips, h('div', { class: 'filter-inputs' }, functionSelect, tagInput)),
      h(
        'div',
        { class: 'table-scroll' },
        h(
          'table',
          { class: 'grid executions' },
          h('thead', null, h('tr', null, ['State', 'Function', 'Id', 'Tags', 'Progress', 'Age', 'Duration'].map((label) => h('th', { class: label === 'Age' || label === 'Duration' ? 'num' : undefined }, label)))),
          tbody,
        ),
      ),
      status,
      h('div', { class: 'list-foot' }, more),
    ),
    h('aside', { class: 'panel dispatch-panel' }, form.element),
  );
  void subscribe();
  return {
    element,
    dispose() {
      clearTimeout(tagTimer);
      controller?.abort();
      form.dispose();
    },
  };
}
