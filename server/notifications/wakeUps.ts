/**
 * Wake-ups on `senpuki:workers:wake` (ours, not the spec's): "work was dispatched to this queue",
 * with the announcing engine's origin, so that engine's own workers, nudged in-process already,
 * skip them. A bare queue name (what earlier versions sent) is read as a wake-up of no origin.
 */
export interface WakeUp {
  queue: string;
  origin?: string;
}

export function encodeWakeUp(wakeUp: WakeUp): string {
  return JSON.stringify(wakeUp);
}

/** The wake-up in `payload`, or undefined for one that is neither ours nor a queue name. */
export function decodeWakeUp(payload: string): WakeUp | undefined {
  if (!payload.startsWith('{')) return payload.length > 0 ? { queue: payload } : undefined;
  try {
    const value = JSON.parse(payload) as Partial<WakeUp>;
    return typeof value.queue === 'string' ? { queue: value.queue, origin: typeof value.origin === 'string' ? value.origin : undefined } : undefined;
  } catch {
    return undefined;
  }
}
