/**
 * Hash routes, so a reload keeps the page and the server serves one HTML file:
 *   #/executions?state=FAILED&function=placeOrder&tag=eu   the list (filters in the query)
 *   #/executions/<id>                                      one execution
 *   #/dead-letters                                         tasks that failed for good
 *   #/workers                                              the live workers
 */
export type Route =
  | { page: 'executions'; query: URLSearchParams }
  | { page: 'execution'; id: string }
  | { page: 'deadLetters'; query: URLSearchParams }
  | { page: 'workers' };

/** The route a location hash names; anything unknown is the list. */
export function parseRoute(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#/, '').split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(search);
  if (parts[0] === 'executions' && parts[1]) return { page: 'execution', id: parts[1] };
  if (parts[0] === 'dead-letters') return { page: 'deadLetters', query };
  if (parts[0] === 'workers') return { page: 'workers' };
  return { page: 'executions', query };
}

/** The hash of an execution's page. */
export function executionHref(id: string): string {
  return `#/executions/${encodeURIComponent(id)}`;
}

/** The hash of the list with these filters. */
export function executionsHref(query?: URLSearchParams): string {
  const search = query?.toString();
  return `#/executions${search ? `?${search}` : ''}`;
}

let lastListHash = '#/executions';

/** Changes the hash without a history entry or a hashchange (filters typed into the list). */
export function replaceHash(hash: string): void {
  history.replaceState(history.state, '', hash);
  rememberHash(hash);
}

/** Notes the list's hash, so "back to the list" keeps its filters. */
export function rememberHash(hash: string): void {
  if (parseRoute(hash).page === 'executions') lastListHash = hash || '#/executions';
}

/** The list as it was last shown (with its filters). */
export function listHref(): string {
  return lastListHash;
}
