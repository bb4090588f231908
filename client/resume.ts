/**
 * Resume cursors: what a live subscription remembers so that, after a dropped connection, it
 * resubscribes from where it was (`since`) and lets nothing through twice or out of order.
 *
 * - `version` (executionUpdated, taskUpdated): one row; a payload is news only when its `version`
 *   is above the last one; the stream is over once the row is `terminal`.
 * - `changeSeq` (executionsUpdated): many rows; news is a row whose `version` is above the last
 *   one seen for that id; resume after the highest `changeSeq`. The server may deliver a late
 *   commit with a lower changeSeq than one already seen, so changeSeq is a resume point, not a filter.
 * - `taskChangeSeq` (executionTasksUpdated): `changeSeq` for the tasks of one execution, a stream
 *   the server ends by itself. A server shutting down completes its subscriptions too, so a
 *   `complete` ends the stream only once the root task and every other task seen are terminal
 *   (nothing can change any more); any other complete is a cut, and resumes.
 * - `streamSeq` (executionStream): events of chunks numbered by `seq`; news is an event with a
 *   chunk above the last seq (or the first event, or the closing one); resume `after` the last
 *   seq; the stream is over after the event with `closed`.
 */

/** How a subscription resumes; set as `context[LIVE_CONTEXT_KEY]` on a urql subscription to opt in. */
export type LiveCursorKind = 'version' | 'changeSeq' | 'taskChangeSeq' | 'streamSeq';

/** Operation context key read by the live exchange (`{ senpukiLive: 'version' }`). */
export const LIVE_CONTEXT_KEY = 'senpukiLive';

/**
 * Operation context key of the share key: live operations with the same one share one server
 * subscription. The SDK gives every iterator its own operation key (so urql's own sharing, which
 * does not replay, never applies) and the natural key as share key.
 */
export const LIVE_SHARE_KEY = 'senpukiShareKey';

/** Rows an executionsUpdated cursor remembers versions of (oldest forgotten first). */
export const DEFAULT_MAX_TRACKED_ROWS = 10_000;

/** The resume state of one subscription. */
export interface LiveCursor {
  /** Records `row` and says whether it is news (not a duplicate, not older than what was seen). */
  accept(row: unknown): boolean;
  /** True when nothing can follow `row` (a terminal execution or task). */
  isFinal(row: unknown): boolean;
  /** Variables to merge into the subscription's own when it is (re)sent: `{ since }` once known. */
  resumeVariables(): Record<string, unknown>;
  /** Whether a `complete` from the server now is the stream's end rather than a cut; without it only `isFinal` ends a stream. */
  completeIsFinal?(): boolean;
}

interface VersionedRow {
  id?: unknown;
  version?: unknown;
  terminal?: unknown;
  changeSeq?: unknown;
  parentId?: unknown;
}

const asRow = (row: unknown): VersionedRow => (row && typeof row === 'object' ? (row as VersionedRow) : {});

/** A cursor of the given kind, starting from the subscription's own `since` variable. */
export function createLiveCursor(kind: LiveCursorKind, since?: unknown): LiveCursor {
  if (kind === 'version') return versionCursor(typeof since === 'number' ? since : undefined);
  if (kind === 'streamSeq') return streamCursor(typeof since === 'number' ? since : undefined);
  const cursor = changeSeqCursor(typeof since === 'string' ? since : undefined);
  return kind === 'taskChangeSeq' ? taskSetCursor(cursor, since !== undefined) : cursor;
}

function versionCursor(since: number | undefined): LiveCursor {
  let last = since;
  return {
    accept(row) {
      const { version } = asRow(row);
      if (typeof version !== 'number') return true;
      if (last !== undefined && version <= last) return false;
      last = version;
      return true;
    },
    isFinal: (row) => asRow(row).terminal === true,
    resumeVariables: () => (last === undefined ? {} : { since: last }),
  };
}

function changeSeqCursor(since: string | undefined, maxTrackedRows = DEFAULT_MAX_TRACKED_ROWS): LiveCursor {
  let cursor = since;
  const versions = new Map<string, number>();
  return {
    accept(row) {
      const { id, version, changeSeq } = asRow(row);
      if (typeof changeSeq === 'string' && (cursor === undefined || compareChangeSeq(changeSeq, cursor) > 0)) cursor = changeSeq;
      if (typeof id !== 'string' || typeof version !== 'number') return true;
      const seen = versions.get(id);
      if (seen !== undefined && version <= seen) return false;
      versions.delete(id); // re-insert, so the map's order is least recently changed first
      versions.set(id, version);
      if (versions.size > maxTrackedRows) versions.delete(versions.keys().next().value as string);
      return true;
    },
    isFinal: () => false,
    resumeVariables: () => (cursor === undefined ? {} : { since: cursor }),
  };
}

function streamCursor(after: number | undefined): LiveCursor {
  let last = after;
  let started = false;
  const asEvent = (row: unknown) => (row && typeof row === 'object' ? (row as { chunks?: unknown; closed?: unknown }) : {});
  return {
    accept(row) {
      const { chunks, closed } = asEvent(row);
      // The first event says the subscription is up, even with nothing in it.
      let news = !started || closed === true;
      started = true;
      for (const chunk of Array.isArray(chunks) ? chunks : []) {
        const seq = (chunk as { seq?: unknown } | null)?.seq;
        if (typeof seq === 'number' && (last === undefined || seq > last)) {
          last = seq;
          news = true;
        }
      }
      return news;
    },
    isFinal: (row) => asEvent(row).closed === true,
    resumeVariables: () => (last === undefined ? {} : { after: last }),
  };
}

/** `cursor`, plus knowing when the tasks it has seen can no longer change (see the module comment). */
function taskSetCursor(cursor: LiveCursor, resumed: boolean): LiveCursor {
  const open = new Set<string>();
  // Without a `since` the stream starts with every task, the root among them; resumed from a
  // caller's `since`, tasks unchanged since then are not sent, so the open ones are all there is to go by.
  let rootTerminal = resumed;
  return {
    ...cursor,
    accept(row) {
      if (!cursor.accept(row)) return false;
      const { id, terminal, parentId } = asRow(row);
      if (typeof id === 'string') {
        if (terminal === true) open.delete(id);
        else open.add(id);
        if (parentId === null) rootTerminal = terminal === true;
      }
      return true;
    },
    completeIsFinal: () => rootTerminal && open.size === 0,
  };
}

/** Orders two changeSeq values (decimal integers as text, possibly beyond 2^53). */
export function compareChangeSeq(a: string, b: string): number {
  const left = a.replace(/^0+(?=\d)/, '');
  const right = b.replace(/^0+(?=\d)/, '');
  if (left.length !== right.length) return left.length - right.length;
  return left < right ? -1 : left > right ? 1 : 0;
}

/** The value of a subscription result's single root field (`data.executionUpdated`, ...). */
export function rootRow(data: unknown): unknown {
  if (!data || typeof data !== 'object') return undefined;
  const values = Object.values(data as Record<string, unknown>);
  return values.length === 1 ? values[0] : undefined;
}
