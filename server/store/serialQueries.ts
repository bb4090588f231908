import type pg from 'pg';

/**
 * A client's query function that sends one query at a time: pg deprecates calling
 * `client.query()` while another is executing (and pg@9 will refuse it), and a dedicated
 * connection (LISTEN, presence) can be asked by several callers at once.
 */
export function serialQueries(client: pg.Client): (text: string | pg.QueryConfig, values?: unknown[]) => Promise<pg.QueryResult> {
  let tail: Promise<unknown> = Promise.resolve();
  return (text, values) => {
    const run = tail.then(() => (typeof text === 'string' ? client.query(text, values) : client.query(text)));
    tail = run.catch(() => {});
    return run;
  };
}
