import type { ExecutionState } from '../types.js';
import { h } from './dom.js';

/** A bar of `done` out of `total`, coloured by the execution's state, with "done/total message" beside it. */
export function progressBar(done: number, total: number, message: string | null | undefined, state: ExecutionState, large = false): HTMLElement {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const bar = h('span', { class: 'bar-fill' });
  bar.style.width = `${(fraction * 100).toFixed(1)}%`;
  return h(
    'span',
    { class: `progress${large ? ' large' : ''} state-${state.toLowerCase()}`, title: `${done} of ${total}${message ? `: ${message}` : ''}`, role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': String(total), 'aria-valuenow': String(done) },
    h('span', { class: 'bar' }, bar),
    h('span', { class: 'progress-text' }, `${formatCount(done)}/${formatCount(total)}`, message ? h('span', { class: 'muted' }, ` ${message}`) : null),
  );
}

function formatCount(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
