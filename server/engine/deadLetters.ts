import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import type { DeadLetterFilter, Store } from '../store/store.js';
import type { Announcer } from './announcer.js';
import type { DeadLetterRecord } from './types.js';
import { assertUuid, checkListLimit, describe } from './validation.js';

export const DEFAULT_DEAD_LETTER_PAGE_SIZE = 50;

export interface DeadLetterListOptions extends DeadLetterFilter {
  /** Page size, 1 to MAX_LIST_PAGE_SIZE (default 50). */
  limit?: number;
  /** Rows to skip (newest first). */
  offset?: number;
}

/** A page of dead letters, newest first. */
export async function listDeadLetters(store: Store, options: DeadLetterListOptions = {}): Promise<DeadLetterRecord[]> {
  const { limit = DEFAULT_DEAD_LETTER_PAGE_SIZE, offset = 0, ...filter } = options;
  checkListLimit(limit);
  if (!Number.isInteger(offset) || offset < 0) throw new ValidationError(`offset must be an integer of at least 0; got ${describe(offset)}`);
  if (filter.executionId !== undefined) assertUuid(filter.executionId, 'executionId');
  return store.listDeadLetters(limit, offset, filter);
}

/** Removes a dead letter without replaying it. */
export async function discardDeadLetter(store: Store, id: string): Promise<void> {
  assertUuid(id, 'dead letter id');
  if (!(await store.discardDeadLetter(id))) throw new NotFoundError(`No dead letter with id ${id}`);
}

/**
 * Replays a dead letter: its task runs again and its failed execution continues from where it
 * failed (completed steps keep their results). Returns the execution id.
 */
export async function replayDeadLetter(store: Store, announcer: Announcer, id: string): Promise<string> {
  assertUuid(id, 'dead letter id');
  const outcome = await store.replayDeadLetter(id);
  if (outcome.ok) {
    await announcer.announce(outcome.changes);
    return outcome.executionId;
  }
  switch (outcome.reason) {
    case 'not_found':
      throw new NotFoundError(`No dead letter with id ${id}; it may have been replayed or discarded already`);
    case 'execution_gone':
      throw new NotFoundError(`The execution of dead letter ${id} no longer exists (removed by retention); discard the dead letter`);
    case 'not_failed':
      throw new ConflictError(
        `Dead letter ${id} belongs to an execution that is ${outcome.state}; only a failed execution can be replayed. Discard the dead letter or dispatch again`,
      );
    case 'still_running':
      throw new ConflictError(`The execution of dead letter ${id} still has running tasks being cancelled; replay once they have stopped`);
    case 'handled':
      throw new ConflictError(
        `The failure recorded by dead letter ${id} was handled by its caller, which did not fail; nothing would use a re-run. Discard the dead letter`,
      );
  }
}
