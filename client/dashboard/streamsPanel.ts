/**
 * The streams of one execution (`ctx.stream(name)` in its functions), each shown as it is
 * written through the SDK's `client.stream`. Text chunks are shown as running text (an LLM's
 * tokens, words), anything else one JSON line per chunk (rows, log entries). Streams appear when
 * a function opens them: the list is read again while the execution runs (a stream has no event
 * of its own when it is opened), and their content is pushed.
 */
import type { StreamChunk } from '../types.js';
import { errorBox, type DashboardContext } from './context.js';
import { h, replaceChildren } from './dom.js';

/** How often the list of streams is read again while the execution runs. */
export const STREAM_DISCOVERY_INTERVAL_MS = 1000;
/** Characters of a stream kept on the page; older text is dropped from the top. */
const MAX_SHOWN_CHARS = 200_000;

/** The panel, and what the execution page tells it. */
export interface StreamsPanel {
  readonly element: HTMLElement;
  /** The execution changed; `terminal` once it has finished (the list is read one last time). */
  update(terminal: boolean): void;
  dispose(): void;
}

/** One stream's view: a header with its state and the chunks of its latest run. */
function streamView(context: DashboardContext, executionId: string, name: string, signal: AbortSignal): HTMLElement {
  const state = h('span', { class: 'muted small' }, 'connecting…');
  const output = h('pre', { class: 'stream-output', 'data-stream': name });
  const view = h('div', { class: 'stream' }, h('div', { class: 'stream-head' }, h('h3', null, name), state), output);
  let count = 0;
  let run = 0;
  let text = true;
  const show = (chunk: StreamChunk) => {
    if (chunk.run !== run) {
      // A re-run of its task wrote something else: its run replaces what was shown.
      if (run !== 0) output.replaceChildren();
      run = chunk.run;
    }
    count += 1;
    if (typeof chunk.data !== 'string') text = false;
    const piece = typeof chunk.data === 'string' && text ? chunk.data : `${JSON.stringify(chunk.data)}\n`;
    const atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
    output.append(piece);
    if ((output.textContent?.length ?? 0) > MAX_SHOWN_CHARS) output.textContent = output.textContent!.slice(-MAX_SHOWN_CHARS);
    if (atBottom) output.scrollTop = output.scrollHeight;
  };
  const describe = (live: string) => `${count} chunk${count === 1 ? '' : 's'}${run > 1 ? ` · run ${run}` : ''} · ${live}`;
  void (async () => {
    try {
      const chunks = context.client.stream(executionId, name, {
        signal,
        onLive: (live) => (state.textContent = describe(live ? 'live' : 'reconnecting…')),
      });
      for await (const chunk of chunks) {
        show(chunk);
        state.textContent = describe('live');
      }
      state.textContent = describe('closed');
      view.classList.add('closed');
    } catch (error) {
      if (signal.aborted) return;
      context.onRequestError(error);
      replaceChildren(state, errorBox(error));
    }
  })();
  return view;
}

/** Mounts the streams panel of execution `executionId` (hidden until it has a stream). */
export function streamsPanel(context: DashboardContext, executionId: string): StreamsPanel {
  const controller = new AbortController();
  const list = h('div', { class: 'stream-list' });
  const element = h('section', { class: 'panel streams-panel', hidden: true }, h('div', { class: 'panel-head' }, h('h2', null, 'Streams')), list);
  const shown = new Set<string>();
  let reading: Promise<void> | undefined;
  let finalRead = false;
  let timer: ReturnType<typeof setInterval> | undefined;

  const discover = () => {
    reading ??= (async () => {
      try {
        for (const stream of await context.client.streams(executionId)) {
          if (shown.has(stream.name) || controller.signal.aborted) continue;
          shown.add(stream.name);
          list.append(streamView(context, executionId, stream.name, controller.signal));
          element.hidden = false;
        }
      } catch (error) {
        if (!controller.signal.aborted) context.onRequestError(error);
      } finally {
        reading = undefined;
      }
    })();
  };

  return {
    element,
    update(terminal) {
      if (finalRead) return;
      if (terminal) {
        finalRead = true;
        clearInterval(timer);
        // After any read in flight: a stream opened just before the end must not be missed.
        void (reading ?? Promise.resolve()).then(discover);
        return;
      }
      if (timer) return;
      timer = setInterval(discover, STREAM_DISCOVERY_INTERVAL_MS);
      discover();
    },
    dispose() {
      controller.abort();
      clearInterval(timer);
    },
  };
}
