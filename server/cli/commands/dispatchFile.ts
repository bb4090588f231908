/**
 * `senpuki dispatch --file jobs.ndjson`: one execution per line, sent with `dispatchMany` in
 * batches of up to 1,000 (one request and one database statement per batch).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { DispatchManyItem, SenpukiClient } from '../../../client/index.js';
import { SenpukiClientError } from '../../../client/errors.js';
import { CliError, EXIT_USAGE, toCliError } from './exitCodes.js';

/** Lines per `dispatchMany` request (the server's limit). */
export const DISPATCH_FILE_BATCH_SIZE = 1000;

const LINE_EXAMPLE = `{"function": "placeOrder", "args": ["order-1"], "tags": ["web"], "idempotencyKey": "order-1"}`;
const OPTION_FIELDS = new Set(['queue', 'tags', 'priority', 'delay', 'maxDuration', 'idempotencyKey']);

/** One line of the file as a `dispatchMany` item, or a usage error naming the line. */
export function parseDispatchLine(text: string, where: string): DispatchManyItem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliError(`${where} is not valid JSON (${(error as Error).message}); each line is one object like ${LINE_EXAMPLE}`, EXIT_USAGE);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError(`${where} must be a JSON object like ${LINE_EXAMPLE}`, EXIT_USAGE);
  }
  const { function: fn, args, ...rest } = value as Record<string, unknown>;
  if (typeof fn !== 'string' || fn.length === 0) throw new CliError(`${where} needs "function": the name of a durable function, as in ${LINE_EXAMPLE}`, EXIT_USAGE);
  if (args !== undefined && !Array.isArray(args)) throw new CliError(`${where}: "args" must be a JSON array, one item per parameter`, EXIT_USAGE);
  const unknown = Object.keys(rest).filter((key) => !OPTION_FIELDS.has(key));
  if (unknown.length > 0) {
    throw new CliError(`${where}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => `"${key}"`).join(', ')}; a line may have function, args, ${[...OPTION_FIELDS].join(', ')}`, EXIT_USAGE);
  }
  return { fn, args: (args as unknown[] | undefined) ?? [], options: rest };
}

/**
 * Reads the whole file first (a bad line stops everything before anything is dispatched), then
 * dispatches it batch by batch and prints each execution id on its own line, in file order.
 * `-` reads standard input.
 */
export async function dispatchFile(client: SenpukiClient, path: string, out: NodeJS.WritableStream): Promise<number> {
  const items: DispatchManyItem[] = [];
  const lines: number[] = [];
  const input = path === '-' ? process.stdin : createReadStream(path);
  let lineNumber = 0;
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      lineNumber++;
      if (line.trim() === '') continue;
      items.push(parseDispatchLine(line, `${path} line ${lineNumber}`));
      lines.push(lineNumber);
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`, EXIT_USAGE, { cause: error });
  }
  if (items.length === 0) throw new CliError(`${path} has no lines to dispatch; each line is one object like ${LINE_EXAMPLE}`, EXIT_USAGE);
  let dispatched = 0;
  for (let start = 0; start < items.length; start += DISPATCH_FILE_BATCH_SIZE) {
    const batch = items.slice(start, start + DISPATCH_FILE_BATCH_SIZE);
    try {
      const results = await client.dispatchMany(batch);
      out.write(results.map((result) => `${result.executionId}\n`).join(''));
      dispatched += results.length;
    } catch (error) {
      if (!(error instanceof SenpukiClientError) || error.kind !== 'graphql') throw error;
      // The server names items by their index in the batch; the user knows lines.
      const message = error.message.replace(/items\[(\d+)\]/g, (_, index: string) => `line ${lines[start + Number(index)]}`);
      const already = dispatched > 0 ? ` (the ${dispatched} lines before line ${lines[start]} were dispatched; their ids are above)` : '';
      throw toCliError(new SenpukiClientError('graphql', `${message}${already}`, { code: error.code, graphQLErrors: [] }), '');
    }
  }
  return dispatched;
}
