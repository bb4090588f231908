/** Durations and relative ages as people read them; no DOM, so the CLI shares them. */

/** "850ms", "2.4s", "3m 05s", "2h 03m", "4d 2h". */
export function formatDurationMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** "just now", "12s ago", "5m ago", "3h ago", "2d ago"; "in 5m" for times ahead. */
export function formatAge(iso: string, nowMs = Date.now()): string {
  const deltaMs = nowMs - Date.parse(iso);
  if (!Number.isFinite(deltaMs)) return '—';
  const ahead = deltaMs < 0;
  const seconds = Math.floor(Math.abs(deltaMs) / 1000);
  if (seconds < 2) return ahead ? 'now' : 'just now';
  let text: string;
  if (seconds < 60) text = `${seconds}s`;
  else if (seconds < 3600) text = `${Math.floor(seconds / 60)}m`;
  else if (seconds < 86_400) text = `${Math.floor(seconds / 3600)}h`;
  else text = `${Math.floor(seconds / 86_400)}d`;
  return ahead ? `in ${text}` : `${text} ago`;
}
