import { createRequest, type AnyVariables, type Client, type OperationResult, type TypedDocumentNode } from '@urql/core';
import type { Source } from 'wonka';
import { LiveIterator } from './liveIterator.js';
import { createLiveCursor, LIVE_CONTEXT_KEY, LIVE_SHARE_KEY, type LiveCursorKind } from './resume.js';

export interface LiveSubscribeOptions<Variables> {
  /** The variables, or a function that reads them first (a start cursor); `stop` aborts when the iterator ends. */
  variables: Variables | ((stop: AbortSignal) => Promise<Variables>);
  /** How the iterator tells news from repeats (see resume.ts). */
  kind: LiveCursorKind;
  since: unknown;
  signal?: AbortSignal;
  onLive?: (live: boolean) => void;
}

/** The live path of the client: every open iterator, each an urql subscription served by the live exchange. */
export class LiveSubscriptions {
  private readonly iterators = new Set<LiveIterator<unknown>>();
  // Operation keys of iterators: negative, so they never meet urql's (unsigned) hashes.
  private lastIteratorKey = 0;
  private closedWith: Error | undefined;

  constructor(private readonly urql: Client) {}

  open<T, Data, Variables extends AnyVariables>(document: TypedDocumentNode<Data, Variables>, options: LiveSubscribeOptions<Variables>): LiveIterator<T> {
    const { variables } = options;
    const execute = (values: Variables) => {
      // Its own key, so urql does not merge it with another subscriber of the same execution
      // (urql would not replay the current version to the newcomer); the live exchange still
      // serves both from one server subscription, through the share key. Not a stream's: each
      // reader of a stream needs the chunks after its own position, not the last event.
      const request = createRequest(document, values);
      const key = --this.lastIteratorKey;
      return this.urql.executeSubscription(
        { ...request, key },
        { [LIVE_CONTEXT_KEY]: options.kind, [LIVE_SHARE_KEY]: options.kind === 'streamSeq' ? key : request.key },
      );
    };
    const iterator: LiveIterator<T> = new LiveIterator<T>({
      open: (stop) => {
        if (typeof variables !== 'function') return execute(variables);
        // Handed over inside a plain function: urql's source is a thenable too, which the promise
        // would adopt (subscribing to it, and resolving with its first result).
        return (variables as (stop: AbortSignal) => Promise<Variables>)(stop).then((values: Variables): Source<OperationResult> => {
          const source = execute(values);
          return (sink) => source(sink);
        });
      },
      cursor: createLiveCursor(options.kind, options.since),
      signal: options.signal,
      onLive: options.onLive,
      onEnd: () => this.iterators.delete(iterator as LiveIterator<unknown>),
    });
    if (this.closedWith) iterator.fail(this.closedWith);
    else this.iterators.add(iterator as LiveIterator<unknown>);
    return iterator;
  }

  /** Ends every open iterator with `error`, and every later one at once. */
  close(error: Error): void {
    this.closedWith = error;
    for (const iterator of [...this.iterators]) iterator.fail(error);
  }
}
