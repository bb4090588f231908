import { LRUCache } from 'lru-cache';
import type { Json } from '../domain/types.js';

/** How many recent completions are kept, for how long, and how much JSON they may hold in all. */
const RECENT_COMPLETIONS = 1000;
const RECENT_COMPLETION_TTL_MS = 5000;
const RECENT_COMPLETIONS_MAX_CHARS = 4 * 1024 * 1024;

/**
 * Executions completed by this process's workers, told at once to this process's waiters: a
 * `waitFor` in the process that ran the execution resolves from the completion's own committed
 * write, instead of waiting for its announcement to come back from the backend and reading the
 * row again. Only completions are told, with the result the worker wrote; every other outcome,
 * and every execution finished in another process, reaches waiters through the change feed.
 */
export class LocalCompletions {
  private readonly waiters = new Map<string, Set<(result: Json) => void>>();
  /**
   * Completions of the last moments, as JSON: a wait that begins just after its execution was
   * completed here (a short function finishes before its dispatch has returned) takes the result
   * from here. Safe to keep: a completed execution is final.
   */
  private readonly recent = new LRUCache<string, string>({
    max: RECENT_COMPLETIONS,
    ttl: RECENT_COMPLETION_TTL_MS,
    maxSize: RECENT_COMPLETIONS_MAX_CHARS,
    sizeCalculation: (json) => Math.max(1, json.length),
  });

  /** The result of an execution completed here a moment ago, as the store holds it; undefined if none. */
  recentResult(executionId: string): { result: Json } | undefined {
    const json = this.recent.get(executionId);
    return json === undefined ? undefined : { result: parseStored(json) };
  }

  /** Resolves with the execution's result once a worker here has committed its completion; `cancel` stops listening. */
  wait(executionId: string): { completed: Promise<Json>; cancel: () => void } {
    let listener!: (result: Json) => void;
    const completed = new Promise<Json>((resolve) => (listener = resolve));
    let set = this.waiters.get(executionId);
    if (!set) this.waiters.set(executionId, (set = new Set()));
    set.add(listener);
    const cancel = () => {
      set.delete(listener);
      if (set.size === 0 && this.waiters.get(executionId) === set) this.waiters.delete(executionId);
    };
    return { completed, cancel };
  }

  /** Called once the completion of `executionId` with `result` has committed. */
  completed(executionId: string, result: Json): void {
    const json = JSON.stringify(result);
    if (json.length <= RECENT_COMPLETIONS_MAX_CHARS) this.recent.set(executionId, json);
    const set = this.waiters.get(executionId);
    if (!set) return;
    this.waiters.delete(executionId);
    // Each waiter gets the value as the store hands it back (its own copy, members in jsonb's order).
    for (const listener of set) listener(parseStored(json));
  }
}

/**
 * A JSON text as it reads back from a jsonb column: a fresh value without the members JSON drops,
 * and each object's members in jsonb's order (shorter names first, then by their UTF-8 bytes).
 */
function parseStored(json: string): Json {
  return reorder(JSON.parse(json) as Json);
}

function reorder(value: Json): Json {
  if (Array.isArray(value)) return value.map(reorder);
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value).map((key) => ({ key, bytes: Buffer.from(key, 'utf8') }));
  keys.sort((a, b) => a.bytes.length - b.bytes.length || Buffer.compare(a.bytes, b.bytes));
  // fromEntries defines each member (a member named __proto__ stays a member, as JSON.parse made it).
  return Object.fromEntries(keys.map(({ key }) => [key, reorder(value[key]!)]));
}
