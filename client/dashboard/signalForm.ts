/** The signal form of an execution page: a name, a JSON payload, and the server's answer. */
import type { SignalDelivery } from '../types.js';
import { errorBox, type DashboardContext } from './context.js';
import { h, replaceChildren } from './dom.js';

/** The form, and how the page drives it. */
export interface SignalFormHandle {
  readonly element: HTMLElement;
  toggle(): void;
  hide(): void;
  /** Pre-fills the name with the signal a task waits for, unless the user typed one. */
  suggest(name: string | undefined): void;
}

/** Mounts the (hidden) signal form for execution `executionId`. */
export function signalForm(context: DashboardContext, executionId: string, onSent: (delivery: SignalDelivery) => void): SignalFormHandle {
  let typedName = false;
  const name = h('input', { name: 'signalName', required: true, placeholder: 'approve', class: 'mono', oninput: () => (typedName = true) });
  const payload = h('textarea', { name: 'signalPayload', rows: 3, class: 'mono', spellcheck: 'false', value: '{}', oninput: () => check() });
  const status = h('div', { class: 'args-status' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');

  function check(): { ok: true; value: unknown } | { ok: false } {
    const text = payload.value.trim();
    try {
      const value = text === '' ? null : JSON.parse(text);
      replaceChildren(status);
      payload.classList.remove('invalid');
      send.disabled = false;
      return { ok: true, value };
    } catch (error) {
      replaceChildren(status, h('span', { class: 'bad' }, `✗ Not valid JSON: ${(error as Error).message}`));
      payload.classList.add('invalid');
      send.disabled = true;
      return { ok: false };
    }
  }

  const element = h(
    'form',
    { class: 'panel signal-form', hidden: true, novalidate: true, onsubmit: async (event: SubmitEvent) => {
      event.preventDefault();
      const parsed = check();
      if (!parsed.ok) return;
      if (!name.value.trim()) {
        replaceChildren(status, h('span', { class: 'bad' }, '✗ Name the signal (what ctx.waitForSignal(name) waits for)'));
        return;
      }
      send.disabled = true;
      try {
        const delivery = await context.client.sendSignal(executionId, name.value.trim(), parsed.value);
        element.hidden = true;
        onSent(delivery);
      } catch (error) {
        context.onRequestError(error);
        replaceChildren(status, errorBox(error));
      } finally {
        send.disabled = false;
      }
    } },
    h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Signal name'), name),
    h('label', { class: 'field grow' }, h('span', { class: 'field-label' }, 'Payload (JSON)'), payload),
    h('div', { class: 'form-actions' }, send, h('button', { type: 'button', class: 'secondary', onclick: () => (element.hidden = true) }, 'Close')),
    status,
  );

  return {
    element,
    toggle() {
      element.hidden = !element.hidden;
      if (!element.hidden) (name.value ? payload : name).focus();
    },
    hide() {
      element.hidden = true;
    },
    suggest(suggested) {
      if (suggested && !typedName) name.value = suggested;
    },
  };
}
