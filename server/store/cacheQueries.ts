import type { Json } from '../domain/types.js';
import type { Queryable } from './db.js';

/** A cached result of `functionName` for arguments hashing to `argsHash`, unless it has expired. */
export async function selectCachedResult(
  db: Queryable,
  functionName: string,
  argsHash: string,
): Promise<{ result: Json } | undefined> {
  const { rows } = await db.query<{ result: Json }>(
    `SELECT result FROM senpuki_result_cache WHERE function_name = $1 AND args_hash = $2 AND expires_at > now()`,
    [functionName, argsHash],
  );
  return rows[0] && { result: rows[0].result };
}

/** Stores (or replaces) a cached result, valid for `ttlMs` from the database's now. */
export async function upsertCachedResult(
  db: Queryable,
  functionName: string,
  argsHash: string,
  result: Json,
  ttlMs: number,
): Promise<void> {
  await db.query(
    `INSERT INTO senpuki_result_cache (function_name, args_hash, result, expires_at)
     VALUES ($1, $2, $3, now() + $4::bigint * interval '1 millisecond')
     ON CONFLICT (function_name, args_hash)
     DO UPDATE SET result = excluded.result, created_at = now(), expires_at = excluded.expires_at`,
    [functionName, argsHash, JSON.stringify(result), ttlMs],
  );
}
