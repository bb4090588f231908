/** Formatting shared by the dashboard's views: states, ids, ages, durations and JSON. */
import type { ExecutionState, TaskState } from '../types.js';
import { h } from './dom.js';
import { formatAge, formatDurationMs } from './time.js';

export { formatAge, formatDurationMs } from './time.js';

/** Execution states in the order the filter shows them. */
export const EXECUTION_STATES: readonly ExecutionState[] = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'TIMED_OUT', 'CANCELLING', 'CANCELLED'];

/** "TIMED_OUT" → "timed out". */
export function stateLabel(state: ExecutionState | TaskState): string {
  return state.toLowerCase().replace('_', ' ');
}

/** A coloured state badge; the colour comes from the `state-<state>` class. */
export function stateBadge(state: ExecutionState | TaskState): HTMLElement {
  return h('span', { class: `badge state-${state.toLowerCase()}`, 'data-state': state }, stateLabel(state));
}

/** The first 8 characters of an id (what people compare at a glance); the full id is in the title. */
export function shortId(id: string): string {
  return id.replace(/-/g, '').slice(0, 8);
}

/** A monospace id that shows the full id on hover. */
export function idCode(id: string, short = true): HTMLElement {
  return h('code', { class: 'id', title: id }, short ? shortId(id) : id);
}

/** A local date and time with seconds, for titles and detail panels. */
export function formatTimestamp(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return `${date.toLocaleDateString()} ${date.toLocaleTimeString(undefined, { hour12: false })}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** A relative age that the ticker keeps current; the exact time is in the title. */
export function ageElement(iso: string | null | undefined): HTMLElement {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, 'data-age': iso, title: formatTimestamp(iso) }, formatAge(iso));
}

/**
 * How long something ran: fixed once it finished, ticking (through the ticker) while it runs,
 * a dash before it started.
 */
export function durationElement(startedAt: string | null | undefined, finishedAt: string | null | undefined, running: boolean): HTMLElement {
  if (!startedAt) return h('span', { class: 'muted' }, '—');
  if (finishedAt) return h('span', { class: 'duration' }, formatDurationMs(Date.parse(finishedAt) - Date.parse(startedAt)));
  if (!running) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'duration running', 'data-running-from': startedAt }, formatDurationMs(Date.now() - Date.parse(startedAt)));
}

/** Lines of pretty JSON up to this width stay on one line. */
const JSON_LINE_WIDTH = 72;

/** JSON on one line, with a space after commas and colons. */
function compactJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(compactJson).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>);
  return entries.length ? `{ ${entries.map(([key, item]) => `${JSON.stringify(key)}: ${compactJson(item)}`).join(', ')} }` : '{}';
}

/** Pretty JSON for detail panels: nested values that fit on a line stay on one line. */
export function formatJson(value: unknown, indent = 0): string {
  if (value === undefined) return '';
  const compact = compactJson(value);
  if (value === null || typeof value !== 'object' || indent + compact.length <= JSON_LINE_WIDTH) return compact;
  const inner = ' '.repeat(indent + 2);
  const close = ' '.repeat(indent);
  if (Array.isArray(value)) return `[\n${value.map((item) => inner + formatJson(item, indent + 2)).join(',\n')}\n${close}]`;
  const entries = Object.entries(value as Record<string, unknown>);
  return `{\n${entries.map(([key, item]) => `${inner}${JSON.stringify(key)}: ${formatJson(item, indent + 2)}`).join(',\n')}\n${close}}`;
}

/** One line of JSON, cut to `maxLength` characters, for table cells. */
export function jsonPreview(value: unknown, maxLength = 80): string {
  const text = value === undefined ? '' : JSON.stringify(value);
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}
