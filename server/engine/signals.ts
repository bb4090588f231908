import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { Announcer } from './announcer.js';
import type { Json } from '../domain/types.js';
import { assertUuid, checkName, toJson } from './validation.js';

/** What `sendSignal` did with the signal. */
export interface SignalSent {
  signalId: string;
  /** The wait task that received it at once; undefined when it was buffered for a later wait. */
  deliveredTo: string | undefined;
}

/**
 * Sends a signal: validated, then buffered and handed to the oldest waiting wait of its name in
 * one transaction, then announced (the wait task's channel wakes the waiting orchestrator).
 */
export async function sendSignal(
  deps: { store: Store; announcer: Announcer; maxPayloadBytes: number },
  executionId: string,
  name: string,
  payload: unknown,
): Promise<SignalSent> {
  assertUuid(executionId, 'execution id');
  checkName(name, 'A signal name');
  const json = toJson(payload === undefined ? null : payload, 'signal payload') as Json;
  const bytes = Buffer.byteLength(JSON.stringify(json));
  if (bytes > deps.maxPayloadBytes) {
    throw new ValidationError(`The signal payload is ${bytes} bytes of JSON; the limit is ${deps.maxPayloadBytes} (maxArgsBytes). Send a reference instead.`);
  }
  const signalId = randomUUID();
  const outcome = await deps.store.sendSignal({ id: signalId, executionId, name, payload: json });
  if (!outcome.ok) {
    if (outcome.reason === 'not_found') throw new NotFoundError(`No execution with id ${executionId}; check the id returned by dispatch`);
    throw new ConflictError(
      `Execution ${executionId} is ${outcome.state}; signals can only be sent to pending or running executions`,
    );
  }
  await deps.announcer.announce(outcome.changes);
  return { signalId, deliveredTo: outcome.deliveredTo };
}
