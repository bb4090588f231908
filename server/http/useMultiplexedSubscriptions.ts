import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { StreamFailure } from '../realtime/liveStream.js';
import type { Principal } from '../schema/access.js';

type Result = ExecutionResult | Promise<ExecutionResult>;

/**
 * Multiplexed subscriptions (Hasura's live queries are the model): subscriptions that run the
 * same document and operation with the same variables under the same access scope, and receive
 * the same event, get ONE execution of their selection set; its result goes to all of them.
 *
 * "The same event" is object identity: a row watcher hands one object per version to every feed
 * on the row (see realtime/rowWatcher.ts), so a hundred subscribers of an execution cost one
 * execution per version instead of a hundred. Results are remembered per event object in a
 * WeakMap, and go when the row version does.
 *
 * Authorization stays per subscription: the subscribe resolver (access checks, NOT_FOUND, the
 * token's deadline) runs for each one, as before, and a failure event (an expired token's
 * UNAUTHENTICATED) is executed for its own subscription only. The access scope is part of the
 * key, so subscriptions whose principals could see different things never share a result.
 */
export function useMultiplexedSubscriptions(): Plugin {
  const documentIds = new WeakMap<DocumentNode, number>();
  let documentCount = 0;
  /** Per event: the result of each multiplex key executed for it. */
  const results = new WeakMap<object, Map<string, Result>>();

  const documentId = (document: DocumentNode): number => {
    let id = documentIds.get(document);
    if (id === undefined) documentIds.set(document, (id = ++documentCount));
    return id;
  };

  const subscribe = async (args: ExecutionArgs) => {
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source;
    const key = multiplexKey(documentId(args.document), args);
    const executeFor = (event: unknown): Result => {
      if (key === undefined || typeof event !== 'object' || event === null || event instanceof StreamFailure) {
        return execute({ ...args, rootValue: event });
      }
      let byKey = results.get(event);
      if (!byKey) results.set(event, (byKey = new Map()));
      let result = byKey.get(key);
      if (!result) byKey.set(key, (result = execute({ ...args, rootValue: event })));
      return result;
    };
    return mapEvents(source[Symbol.asyncIterator](), executeFor);
  };

  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(subscribe as never);
    },
  };
}

/** What must be equal for two subscriptions to share a result; undefined (no principal known): never shared. */
export function multiplexKey(documentId: number, args: Pick<ExecutionArgs, 'operationName' | 'variableValues' | 'contextValue'>): string | undefined {
  const principal = (args.contextValue as { principal?: Principal } | undefined)?.principal;
  if (!principal) return undefined;
  return `${documentId}\u0000${args.operationName ?? ''}\u0000${accessScope(principal)}\u0000${JSON.stringify(args.variableValues ?? {})}`;
}

/**
 * Which principals see exactly the same data. Keys (and a server without keys) see everything;
 * a read token sees its execution until it expires: two tokens share only with the same
 * execution and the same expiry, so no result computed before one's expiry reaches the other after.
 */
export function accessScope(principal: Principal): string {
  if (principal.kind === 'executionToken') return `token:${principal.executionId}:${principal.expiresAt.getTime()}`;
  return principal.kind;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as AsyncIterable<unknown> | undefined)?.[Symbol.asyncIterator] === 'function';
}

/** The source stream with each event replaced by its execution result; ending it ends the source. */
function mapEvents(source: AsyncIterator<unknown>, map: (event: unknown) => Result): AsyncIterableIterator<ExecutionResult> {
  const done = (): IteratorResult<ExecutionResult> => ({ done: true, value: undefined });
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      const next = await source.next();
      if (next.done) return done();
      return { done: false, value: await map(next.value) };
    },
    async return() {
      await source.return?.();
      return done();
    },
    async throw(error: unknown) {
      await source.return?.();
      throw error;
    },
  };
}
