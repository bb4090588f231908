import { Command } from 'commander';
import { formatAge } from '../../../client/dashboard/time.js';
import { EXIT_CODES_HELP, exitCodeFor } from './exitCodes.js';
import { followExecution, outcomeLine } from './follow.js';
import { jsonOutput, painter, preview, table } from './output.js';
import { MAX_GRAPHQL_PAGE_SIZE } from '../../engine/validation.js';
import { integer } from './parse.js';
import { withClient, withRemoteOptions, type RemoteOptions } from './remote.js';
import { printResult } from './dispatch.js';

/** Dead letters `dlq list` shows unless --limit says otherwise. */
export const DEFAULT_DEAD_LETTERS_LIMIT = 20;

/** `senpuki dlq list|replay|discard`: tasks that failed for good. */
export function dlqCommand(): Command {
  const dlq = new Command('dlq').description('dead letters: tasks whose retries ran out or that threw NonRetryableError');
  dlq.addCommand(
    withRemoteOptions(
      new Command('list')
        .description('list dead letters, newest first')
        .option('--function <name>', 'only this function')
        .option('-n, --limit <n>', `rows to show (1-${MAX_GRAPHQL_PAGE_SIZE})`, integer(1, MAX_GRAPHQL_PAGE_SIZE), DEFAULT_DEAD_LETTERS_LIMIT)
        .option('--json', 'print them as JSON'),
    ).action(async (options: RemoteOptions & { function?: string; limit: number; json?: boolean }) => {
      await withClient(options, async (client) => {
        const page = await client.deadLetters(options.function ? { function: options.function } : undefined, { first: options.limit });
        if (options.json) {
          process.stdout.write(`${jsonOutput(page.deadLetters)}\n`);
          return;
        }
        if (page.deadLetters.length === 0) {
          process.stdout.write('No dead letters.\n');
          return;
        }
        const paint = painter(process.stdout);
        const rows = page.deadLetters.map((letter) => [
          letter.id,
          letter.function,
          letter.executionId,
          String(letter.attempts),
          formatAge(letter.createdAt),
          paint('red', preview(`${letter.error.name}: ${letter.error.message}`, 60)),
        ]);
        process.stdout.write(`${table(['ID', 'FUNCTION', 'EXECUTION', 'ATTEMPTS', 'FAILED', 'ERROR'], rows, paint)}\n`);
      });
    }),
  );
  dlq.addCommand(
    withRemoteOptions(
      new Command('replay')
        .description('run a dead letter\'s task again; its execution continues where it failed')
        .argument('<dead-letter-id>')
        .option('-w, --wait', 'follow the execution to its end; the exit code is its outcome')
        .addHelpText('after', `\n${EXIT_CODES_HELP}`),
    ).action(async (id: string, options: RemoteOptions & { wait?: boolean }) => {
      await withClient(options, async (client) => {
        const execution = await client.replayDeadLetter(id);
        process.stdout.write(`${execution.id}\n`);
        if (!options.wait) return;
        const final = await followExecution(client, execution.id);
        process.stderr.write(`${outcomeLine(final, process.stderr)}\n`);
        if (final.state === 'COMPLETED') printResult(final.result);
        process.exitCode = exitCodeFor(final.state);
      });
    }),
  );
  dlq.addCommand(
    withRemoteOptions(
      new Command('discard').description('remove a dead letter without running it again (its execution stays failed)').argument('<dead-letter-id>'),
    ).action(async (id: string, options: RemoteOptions) => {
      await withClient(options, async (client) => {
        await client.discardDeadLetter(id);
        process.stdout.write(`discarded ${id}\n`);
      });
    }),
  );
  return dlq;
}
