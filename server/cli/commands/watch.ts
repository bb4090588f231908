import { Command } from 'commander';
import type { SenpukiClient } from '../../../client/senpukiClient.js';
import type { Execution } from '../../../client/types.js';
import { EXIT_CODES_HELP, exitCodeFor } from './exitCodes.js';
import { followExecution, outcomeLine } from './follow.js';
import { printResult } from './dispatch.js';
import { withClient, withRemoteOptions, type RemoteOptions } from './remote.js';
import { printStream } from './streamOutput.js';

/** `senpuki watch <id>`: follows an execution to its end; the exit code is its outcome. */
export function watchCommand(): Command {
  return withRemoteOptions(
    new Command('watch')
      .description('follow an execution to its end with a progress bar, then print its result; the exit code is its outcome')
      .argument('<execution-id>', 'the id `dispatch` printed')
      .option('--stream <name>', 'print the stream <name> the function writes (text as it comes, other chunks one JSON line each) instead of the progress and the result')
      .addHelpText('after', `\nExamples:\n  senpuki watch "$id"\n  senpuki watch "$id" --stream story > story.txt\n\n${EXIT_CODES_HELP}`),
  ).action(async (id: string, options: RemoteOptions & { stream?: string }) => {
    await withClient(options, async (client) => {
      // Fails fast (NOT_FOUND, unreachable) before the live view starts.
      const execution = await client.execution(id);
      process.stderr.write(`watching ${execution.function} ${id}${options.stream ? `, stream "${options.stream}"` : ''}\n`);
      const final = options.stream ? await followStream(client, id, options.stream) : await followExecution(client, id);
      process.stderr.write(`${outcomeLine(final, process.stderr)}\n`);
      if (final.state === 'COMPLETED' && !options.stream) printResult(final.result);
      process.exitCode = exitCodeFor(final.state);
    });
  });
}

/** Prints the stream on stdout (no progress line: it would break into the text), then waits for the execution's end. */
async function followStream(client: SenpukiClient, id: string, name: string): Promise<Execution> {
  await printStream(client, id, name, process.stdout, process.stderr);
  let last: Execution | undefined;
  for await (const execution of client.executionUpdates(id)) last = execution;
  if (!last?.terminal) throw new Error(`the updates of execution ${id} ended before its final state; run \`senpuki watch ${id}\` again`);
  return last;
}
