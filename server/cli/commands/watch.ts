import { Command } from 'commander';
import { EXIT_CODES_HELP, exitCodeFor } from './exitCodes.js';
import { followExecution, outcomeLine } from './follow.js';
import { printResult } from './dispatch.js';
import { withClient, withRemoteOptions, type RemoteOptions } from './remote.js';

/** `senpuki watch <id>`: follows an execution to its end; the exit code is its outcome. */
export function watchCommand(): Command {
  return withRemoteOptions(
    new Command('watch')
      .description('follow an execution to its end with a progress bar, then print its result; the exit code is its outcome')
      .argument('<execution-id>', 'the id `dispatch` printed')
      .addHelpText('after', `\n${EXIT_CODES_HELP}`),
  ).action(async (id: string, options: RemoteOptions) => {
    await withClient(options, async (client) => {
      // Fails fast (NOT_FOUND, unreachable) before the live view starts.
      const execution = await client.execution(id);
      process.stderr.write(`watching ${execution.function} ${id}\n`);
      const final = await followExecution(client, id);
      process.stderr.write(`${outcomeLine(final, process.stderr)}\n`);
      if (final.state === 'COMPLETED') printResult(final.result);
      process.exitCode = exitCodeFor(final.state);
    });
  });
}
