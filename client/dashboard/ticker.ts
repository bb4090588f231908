import { formatAge, formatDurationMs } from './format.js';

/** How often relative ages and running durations are redrawn. */
export const DEFAULT_TICK_INTERVAL_MS = 1000;

/**
 * Keeps every `[data-age]` (relative age) and `[data-running-from]` (running duration) element
 * under `root` current, with one timer for the whole page instead of one per row. Returns stop.
 */
export function startTicker(root: ParentNode, intervalMs = DEFAULT_TICK_INTERVAL_MS): () => void {
  const tick = () => {
    const nowMs = Date.now();
    for (const element of root.querySelectorAll<HTMLElement>('[data-age]')) {
      const text = formatAge(element.dataset.age!, nowMs);
      if (element.textContent !== text) element.textContent = text;
    }
    for (const element of root.querySelectorAll<HTMLElement>('[data-running-from]')) {
      const text = formatDurationMs(nowMs - Date.parse(element.dataset.runningFrom!));
      if (element.textContent !== text) element.textContent = text;
    }
  };
  const timer = setInterval(tick, intervalMs);
  return () => clearInterval(timer);
}
