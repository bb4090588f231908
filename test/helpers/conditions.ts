/** Default bound of `waitFor`: long enough for a reconnect with backoff, short enough to fail fast. */
export const DEFAULT_WAIT_FOR_TIMEOUT_MS = 10_000;

/**
 * Polls `condition` until it returns something truthy and returns that; rejects with `message`
 * after `timeoutMs`. Tests wait on conditions, never on fixed sleeps.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = DEFAULT_WAIT_FOR_TIMEOUT_MS, intervalMs = 10, message = 'condition' } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs}ms waiting for ${message}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves with the first `count` values of `iterable` (ending early if it ends). */
export async function take<T>(iterable: AsyncIterable<T>, count: number): Promise<T[]> {
  const values: T[] = [];
  if (count <= 0) return values;
  for await (const value of iterable) {
    values.push(value);
    if (values.length >= count) break;
  }
  return values;
}
