import { Command } from 'commander';
import type { DispatchOptions } from '../../../client/types.js';
import { dispatchFile } from './dispatchFile.js';
import { CliError, EXIT_CODES_HELP, EXIT_USAGE, exitCodeFor } from './exitCodes.js';
import { followExecution, outcomeLine } from './follow.js';
import { duration, integer, list, parseArgs } from './parse.js';
import { withClient, withRemoteOptions, type RemoteOptions } from './remote.js';

interface DispatchCommandOptions extends RemoteOptions {
  wait?: boolean;
  file?: string;
  queue?: string;
  tags?: string[];
  priority?: number;
  delay?: number | string;
  maxDuration?: number | string;
  idempotencyKey?: string;
}

/** Prints a result as JSON on stdout (what a script pipes on). */
export function printResult(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result ?? null, null, 2)}\n`);
}

/** `senpuki dispatch <function> [json-args] [--wait]`. */
export function dispatchCommand(): Command {
  return withRemoteOptions(
    new Command('dispatch')
      .description('start an execution of a durable function; prints its id (with --wait: follows it and prints its result); with --file, one execution per line')
      .argument('[function]', 'name of a registered durable function (see `senpuki functions`)')
      .argument('[json-args]', `the arguments as a JSON array, e.g. '["order-1", 2]'`, parseArgs, [])
      .option('-w, --wait', 'follow it to its end with a progress bar; the exit code is its outcome')
      .option('-f, --file <path>', 'dispatch every line of an NDJSON file (- for stdin), e.g. {"function": "greet", "args": ["ana"], "tags": ["web"]}; prints one id per line')
      .option('--queue <name>', "queue (default: the function's)")
      .option('--tags <tags>', 'comma-separated tags', list)
      .option('--priority <n>', 'higher runs first', integer(-1_000_000, 1_000_000))
      .option('--delay <duration>', 'start no earlier than this from now: ms or "10s", "5m"', duration)
      .option('--max-duration <duration>', 'time out (exit code 2) when it runs longer', duration)
      .option('--idempotency-key <key>', 'a second dispatch with the same key returns the first execution')
      .addHelpText('after', `\nExamples:\n  senpuki dispatch placeOrder '["order-1", [{"sku":"A","quantity":1,"unitPriceCents":500}]]' --wait\n  id=$(senpuki dispatch remindLater '["stretch", 60000]') && senpuki watch "$id"\n  senpuki dispatch --file jobs.ndjson > ids.txt\n\n${EXIT_CODES_HELP}`),
  ).action(async (fn: string | undefined, args: unknown[], options: DispatchCommandOptions) => {
    if (options.file !== undefined) {
      if (fn !== undefined || options.wait) {
        throw new CliError('--file takes the functions and arguments from the file: give no function, arguments or --wait with it (follow an id with `senpuki watch <id>`)', EXIT_USAGE);
      }
      const file = options.file;
      await withClient(options, async (client) => {
        const count = await dispatchFile(client, file, process.stdout);
        if (process.stderr.isTTY) process.stderr.write(`dispatched ${count} executions from ${file}\n`);
      });
      return;
    }
    if (fn === undefined) throw new CliError('name the function to dispatch (see `senpuki functions`), or give --file jobs.ndjson', EXIT_USAGE);
    const dispatchOptions: DispatchOptions = {};
    if (options.queue) dispatchOptions.queue = options.queue;
    if (options.tags?.length) dispatchOptions.tags = options.tags;
    if (options.priority !== undefined) dispatchOptions.priority = options.priority;
    if (options.delay !== undefined) dispatchOptions.delay = options.delay;
    if (options.maxDuration !== undefined) dispatchOptions.maxDuration = options.maxDuration;
    if (options.idempotencyKey) dispatchOptions.idempotencyKey = options.idempotencyKey;
    await withClient(options, async (client) => {
      const { executionId, created } = await client.dispatch(fn, args, dispatchOptions);
      const note = created ? '' : ' (an earlier dispatch with this idempotency key)';
      if (!options.wait) {
        process.stdout.write(`${executionId}\n`);
        if (process.stderr.isTTY) process.stderr.write(`dispatched ${fn}${note}; follow it with: senpuki watch ${executionId}\n`);
        return;
      }
      process.stderr.write(`dispatched ${fn} ${executionId}${note}\n`);
      const execution = await followExecution(client, executionId);
      process.stderr.write(`${outcomeLine(execution, process.stderr)}\n`);
      if (execution.state === 'COMPLETED') printResult(execution.result);
      process.exitCode = exitCodeFor(execution.state);
    });
  });
}
