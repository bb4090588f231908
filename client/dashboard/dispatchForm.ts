/**
 * The dispatch form, generated from the `functions` query: pick a function, write its arguments as
 * a JSON array (checked as you type), optionally set queue, tags, priority, delay, max duration and
 * an idempotency key. The server's own message is shown when it refuses.
 */
import type { DispatchOptions, DurableFunction } from '../types.js';
import { errorBox, type DashboardContext } from './context.js';
import { h, replaceChildren, type View } from './dom.js';
import { formatDurationMs, idCode } from './format.js';
import { executionHref } from './router.js';

/** The last arguments typed per function survive reloads, under this localStorage key prefix. */
const ARGS_STORAGE_PREFIX = 'senpuki.dispatch.args.';
const FUNCTION_STORAGE_KEY = 'senpuki.dispatch.function';

type ArgsCheck = { ok: true; args: unknown[] } | { ok: false; message: string };

/** Whether `text` is a JSON array of arguments, and if not, what to fix. */
export function checkArgs(text: string): ArgsCheck {
  if (text.trim() === '') return { ok: true, args: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `Not valid JSON: ${(error as Error).message}` };
  }
  if (!Array.isArray(value)) return { ok: false, message: 'Arguments must be a JSON array, one item per parameter: ["order-1", 2]' };
  return { ok: true, args: value };
}

function storage(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined; // private mode or blocked storage: the form still works, it just forgets
  }
}

function retrySummary(fn: DurableFunction): string {
  const { maxAttempts, initialDelayMs, backoffFactor } = fn.retry;
  if (maxAttempts <= 1) return 'no retries';
  return `${maxAttempts} attempts, from ${formatDurationMs(initialDelayMs)} ×${backoffFactor}${fn.retry.retryOn ? ` on ${fn.retry.retryOn.join(', ')}` : ''}`;
}

function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control, hint ? h('span', { class: 'hint' }, hint) : null);
}

/** Mounts the dispatch form. */
export function dispatchForm(context: DashboardContext): View {
  let functions: DurableFunction[] = [];
  const select = h('select', { name: 'function', required: true, onchange: () => selectFunction(select.value) });
  const about = h('div', { class: 'fn-about' });
  const argsInput = h('textarea', { name: 'args', class: 'mono', rows: 6, spellcheck: 'false', autocomplete: 'off', oninput: () => validate(true), onkeydown: (event: KeyboardEvent) => {
    if (event.key === 'Enter' && (event.metaKey || event.ctrlKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  } });
  const argsStatus = h('div', { class: 'args-status', 'aria-live': 'polite' });
  const queue = h('input', { name: 'queue', placeholder: 'default' });
  const tags = h('input', { name: 'tags', placeholder: 'eu, vip' });
  const priority = h('input', { name: 'priority', type: 'number', step: '1', placeholder: '0' });
  const delay = h('input', { name: 'delay', placeholder: 'e.g. 10s' });
  const maxDuration = h('input', { name: 'maxDuration', placeholder: 'e.g. 5m' });
  const idempotencyKey = h('input', { name: 'idempotencyKey', placeholder: 'optional' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Dispatch');
  const outcome = h('div', { class: 'dispatch-outcome', 'aria-live': 'polite' });

  function selectFunction(name: string): void {
    const fn = functions.find((candidate) => candidate.name === name);
    storage()?.setItem(FUNCTION_STORAGE_KEY, name);
    const saved = storage()?.getItem(ARGS_STORAGE_PREFIX + name);
    const example = context.config.exampleArgs[name];
    argsInput.value = saved ?? (example ? JSON.stringify(example, null, 1).replace(/\n\s*/g, ' ') : '[]');
    queue.placeholder = fn?.queue ?? 'default';
    priority.placeholder = String(fn?.priority ?? 0);
    replaceChildren(
      about,
      fn?.description ? h('p', null, fn.description) : null,
      fn ? h('p', { class: 'muted small' }, `queue ${fn.queue} · ${retrySummary(fn)}${fn.tags.length ? ` · tags ${fn.tags.join(', ')}` : ''}`) : null,
    );
    validate(false);
  }

  function validate(remember: boolean): ArgsCheck {
    const check = checkArgs(argsInput.value);
    argsInput.classList.toggle('invalid', !check.ok);
    argsInput.setAttribute('aria-invalid', String(!check.ok));
    submit.disabled = !check.ok || !select.value;
    replaceChildren(
      argsStatus,
      check.ok
        ? h('span', { class: 'ok' }, `✓ ${check.args.length} argument${check.args.length === 1 ? '' : 's'}`)
        : h('span', { class: 'bad' }, `✗ ${check.message}`),
    );
    if (remember && check.ok && select.value) storage()?.setItem(ARGS_STORAGE_PREFIX + select.value, argsInput.value);
    return check;
  }

  function options(): DispatchOptions {
    const result: DispatchOptions = {};
    if (queue.value.trim()) result.queue = queue.value.trim();
    const tagList = tags.value.split(',').map((tag) => tag.trim()).filter(Boolean);
    if (tagList.length) result.tags = tagList;
    // Sent as typed, so the server's validation (not ours) explains a bad value.
    if (priority.value.trim()) result.priority = Number(priority.value);
    if (delay.value.trim()) result.delay = /^\d+$/.test(delay.value.trim()) ? Number(delay.value) : delay.value.trim();
    if (maxDuration.value.trim()) result.maxDuration = /^\d+$/.test(maxDuration.value.trim()) ? Number(maxDuration.value) : maxDuration.value.trim();
    if (idempotencyKey.value.trim()) result.idempotencyKey = idempotencyKey.value.trim();
    return result;
  }

  const form = h(
    'form',
    { class: 'dispatch-form', novalidate: true, onsubmit: async (event: SubmitEvent) => {
      event.preventDefault();
      const check = validate(true);
      if (!check.ok || !select.value) return;
      submit.disabled = true;
      submit.textContent = 'Dispatching…';
      try {
        const result = await context.client.dispatch(select.value, check.args, options());
        replaceChildren(
          outcome,
          h('div', { class: 'ok-box' }, result.created ? 'Dispatched ' : 'Already dispatched (same idempotency key): ', h('a', { href: executionHref(result.executionId), class: 'dispatched-link' }, idCode(result.executionId)), ' →'),
        );
      } catch (error) {
        context.onRequestError(error);
        replaceChildren(outcome, errorBox(error));
      } finally {
        submit.textContent = 'Dispatch';
        validate(false);
      }
    } },
    h('h2', null, 'Dispatch'),
    field('Function', select),
    about,
    field('Arguments (JSON array)', argsInput),
    argsStatus,
    h(
      'details',
      { class: 'options' },
      h('summary', null, 'Options'),
      h('div', { class: 'options-grid' }, field('Queue', queue), field('Tags', tags), field('Priority', priority), field('Delay', delay), field('Max duration', maxDuration), field('Idempotency key', idempotencyKey)),
    ),
    h('div', { class: 'form-actions' }, submit, h('span', { class: 'hint' }, 'Ctrl+Enter')),
    outcome,
  );

  void context.functions().then(
    (list) => {
      functions = list;
      if (list.length === 0) {
        replaceChildren(about, h('p', { class: 'muted' }, 'No durable functions are registered. Start the server with --functions ./your-module.ts.'));
        submit.disabled = true;
        return;
      }
      for (const fn of list) select.append(h('option', { value: fn.name }, fn.name));
      const remembered = storage()?.getItem(FUNCTION_STORAGE_KEY);
      // A newcomer starts on the first function with example arguments (the examples' order workflow).
      const preferred = [remembered, ...Object.keys(context.config.exampleArgs)].find((name) => name && list.some((fn) => fn.name === name));
      select.value = preferred ?? list[0]!.name;
      selectFunction(select.value);
    },
    (error: unknown) => {
      context.onRequestError(error);
      replaceChildren(outcome, errorBox(error));
    },
  );
  submit.disabled = true;
  return { element: form, dispose() {} };
}
