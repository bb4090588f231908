/**
 * Tasks that failed for good, newest first, with a replay button each. The API has no live feed
 * of dead letters, so the page reads them on open, on "Refresh" and after a replay.
 */
import type { DeadLetter } from '../types.js';
import { errorBox, type DashboardContext } from './context.js';
import { h, replaceChildren, type View } from './dom.js';
import { ageElement, idCode, jsonPreview } from './format.js';
import { executionHref } from './router.js';

/** Dead letters shown. */
export const DEFAULT_DEAD_LETTER_PAGE_SIZE = 100;

/** Mounts the dead-letters page. */
export function deadLettersPage(context: DashboardContext): View {
  let disposed = false;
  const tbody = h('tbody');
  const status = h('div', { class: 'list-status' });

  function row(letter: DeadLetter): HTMLTableRowElement {
    const replay = h('button', { type: 'button', class: 'secondary small', onclick: async () => {
      replay.disabled = true;
      try {
        await context.client.replayDeadLetter(letter.id);
        location.hash = executionHref(letter.executionId);
      } catch (error) {
        context.onRequestError(error);
        replaceChildren(status, errorBox(error));
        replay.disabled = false;
      }
    } }, 'Replay');
    return h(
      'tr',
      { class: 'row', 'data-id': letter.id },
      h('td', { class: 'fn' }, letter.function),
      h('td', null, h('a', { href: executionHref(letter.executionId) }, idCode(letter.executionId))),
      h('td', { class: 'num' }, String(letter.attempts)),
      h('td', { class: 'outcome' }, h('span', { class: 'error-text', title: letter.error.message }, `${letter.error.name}: ${letter.error.message}`)),
      h('td', { class: 'mono muted' }, jsonPreview(letter.args, 50)),
      h('td', { class: 'num' }, ageElement(letter.createdAt)),
      h('td', null, replay),
    );
  }

  async function load(): Promise<void> {
    replaceChildren(status, h('div', { class: 'empty muted' }, 'Loading…'));
    try {
      const page = await context.client.deadLetters(undefined, { first: DEFAULT_DEAD_LETTER_PAGE_SIZE });
      if (disposed) return;
      replaceChildren(tbody, page.deadLetters.map(row));
      replaceChildren(status, page.deadLetters.length === 0 ? h('div', { class: 'empty' }, 'No dead letters: nothing has failed for good.') : null);
    } catch (error) {
      context.onRequestError(error);
      replaceChildren(status, errorBox(error));
    }
  }

  const element = h(
    'div',
    { class: 'page page-dead-letters' },
    h(
      'section',
      { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h1', null, 'Dead letters'), h('span', { class: 'muted' }, 'tasks whose retries ran out, or that threw NonRetryableError'), h('span', { class: 'spacer' }), h('button', { type: 'button', class: 'secondary small', onclick: () => void load() }, 'Refresh')),
      h('div', { class: 'table-scroll' }, h('table', { class: 'grid' }, h('thead', null, h('tr', null, ['Function', 'Execution', 'Attempts', 'Error', 'Arguments', 'Failed', ''].map((label) => h('th', { class: label === 'Attempts' || label === 'Failed' ? 'num' : undefined }, label)))), tbody)),
      status,
    ),
  );
  void load();
  return {
    element,
    dispose() {
      disposed = true;
    },
  };
}
