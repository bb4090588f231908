import { createHash } from 'node:crypto';

/**
 * A statement sent as a named prepared statement: each connection parses it once, and Postgres
 * may keep one plan for it instead of planning it again on every run. Only for the hot path's
 * statements whose plans stay index walks for any values (test/store.claimPlans.test.ts checks
 * the generic plans too). Its `toString()` is its text, so wrappers that log or explain it work.
 */
export interface PreparedStatement {
  readonly name: string;
  readonly text: string;
  toString(): string;
}

const byText = new Map<string, PreparedStatement>();

/** The prepared statement of `text` (one name per distinct text, so dynamic SQL gets one per shape). */
export function prepared(text: string): PreparedStatement {
  let statement = byText.get(text);
  if (!statement) {
    const name = `senpuki_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    statement = { name, text, toString: () => text };
    byText.set(text, statement);
  }
  return statement;
}

export function isPrepared(text: unknown): text is PreparedStatement {
  return typeof text === 'object' && text !== null && typeof (text as PreparedStatement).name === 'string' && typeof (text as PreparedStatement).text === 'string';
}
