import type { Execution, ExecutionFilter, ExecutionPage, PageRequest } from './types.js';

/** Rows in a live list when `first` is not given (the server's default page size). */
export const DEFAULT_EXECUTION_LIST_SIZE = 20;

/** Options of a live execution list. */
export interface ExecutionListOptions {
  /** Rows kept, newest first (1-200). */
  first?: number;
  signal?: AbortSignal;
}

/** The list now: newest first, at most `first` rows. */
export interface ExecutionListSnapshot {
  executions: Execution[];
  /** The row whose change produced this snapshot; undefined for the first one. */
  changed?: Execution;
}

/** Whether `execution` is in the view `filter` describes (the server applies the same rules). */
export function matchesFilter(execution: Execution, filter: ExecutionFilter = {}): boolean {
  if (filter.state && filter.state.length > 0 && !filter.state.includes(execution.state)) return false;
  if (filter.function != null && execution.function !== filter.function) return false;
  if (filter.queue != null && execution.queue !== filter.queue) return false;
  if (filter.tag != null && !execution.tags.includes(filter.tag)) return false;
  if (filter.createdAfter != null && Date.parse(execution.createdAt) <= Date.parse(filter.createdAfter)) return false;
  return true;
}

/**
 * `list` with `update` applied: replaced when newer, added when new and matching, removed when it
 * no longer matches; newest first, cut to `limit`. Returns `list` itself when nothing changed.
 */
export function mergeExecutionList(list: readonly Execution[], update: Execution, filter: ExecutionFilter | undefined, limit: number): Execution[] {
  const index = list.findIndex((row) => row.id === update.id);
  if (index >= 0 && list[index]!.version >= update.version) return list as Execution[];
  const rest = index >= 0 ? list.filter((_, i) => i !== index) : [...list];
  if (!matchesFilter(update, filter)) return index >= 0 ? rest : (list as Execution[]);
  // A row older than a full page's last one belongs to a later page.
  if (index < 0 && list.length >= limit && newestFirst(update, list[list.length - 1]!) > 0) return list as Execution[];
  rest.push(update);
  rest.sort(newestFirst);
  return rest.slice(0, limit);
}

/** Sort order of the server's lists: createdAt descending, then id. */
function newestFirst(a: Execution, b: Execution): number {
  const byTime = Date.parse(b.createdAt) - Date.parse(a.createdAt);
  return byTime !== 0 ? byTime : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** What `executionListUpdates` needs of a client. */
export interface ExecutionListSource {
  changeCursor(): Promise<string>;
  executions(filter?: ExecutionFilter, page?: PageRequest): Promise<ExecutionPage>;
  executionsUpdates(filter?: ExecutionFilter, options?: { since?: string; signal?: AbortSignal }): AsyncIterableIterator<Execution>;
}

/**
 * The first page of `filter`, then the page again after every change. The change cursor is read
 * before the page, and the subscription starts there: every change after the page was read is
 * delivered (the version check drops the ones the page has), even one made while the
 * subscription connects, or after it drops before its first event.
 */
export async function* executionListUpdates(
  client: ExecutionListSource,
  filter: ExecutionFilter | undefined,
  options: ExecutionListOptions = {},
): AsyncGenerator<ExecutionListSnapshot, undefined, undefined> {
  const limit = options.first ?? DEFAULT_EXECUTION_LIST_SIZE;
  const updates = client.executionsUpdates(filter, { since: await client.changeCursor(), signal: options.signal });
  const firstUpdate = updates.next(); // opens the subscription now, while the page is read
  firstUpdate.catch(() => {}); // observed below; avoids an unhandled rejection while the query runs
  try {
    let list = (await client.executions(filter, { first: limit })).executions;
    yield { executions: list };
    for (let next = await firstUpdate; !next.done; next = await updates.next()) {
      const merged = mergeExecutionList(list, next.value, filter, limit);
      if (merged === list) continue;
      list = merged;
      yield { executions: list, changed: next.value };
    }
  } finally {
    await updates.return?.();
  }
}
