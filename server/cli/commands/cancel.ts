import { Command } from 'commander';
import { EXIT_CODES_HELP, EXIT_COMPLETED, exitCodeFor } from './exitCodes.js';
import { followExecution, outcomeLine } from './follow.js';
import { parseJson } from './parse.js';
import { painter, stateText } from './output.js';
import { withClient, withRemoteOptions, type RemoteOptions } from './remote.js';

/** `senpuki cancel <id> [--wait]`. */
export function cancelCommand(): Command {
  return withRemoteOptions(
    new Command('cancel')
      .description('cancel an execution (running tasks see ctx.signal aborted)')
      .argument('<execution-id>')
      .option('-w, --wait', 'wait until it has stopped: exit 0 once cancelled, or its outcome if it ended otherwise first')
      .addHelpText('after', `\n${EXIT_CODES_HELP}`),
  ).action(async (id: string, options: RemoteOptions & { wait?: boolean }) => {
    await withClient(options, async (client) => {
      const execution = await client.cancel(id);
      const paint = painter(process.stdout);
      if (execution.terminal && execution.state !== 'CANCELLED') {
        process.stdout.write(`${id} had already finished: ${stateText(execution.state, paint)}\n`);
        return;
      }
      process.stdout.write(`${id} ${stateText(execution.state, paint)}\n`);
      if (!options.wait) return;
      const final = execution.terminal ? execution : await followExecution(client, id);
      process.stderr.write(`${outcomeLine(final, process.stderr)}\n`);
      // The cancel asked for is what happened: success (scripts under `set -e` go on).
      process.exitCode = final.state === 'CANCELLED' ? EXIT_COMPLETED : exitCodeFor(final.state);
    });
  });
}

/** `senpuki signal <id> <name> [json-payload]`. */
export function signalCommand(): Command {
  return withRemoteOptions(
    new Command('signal')
      .description('send a signal to an execution: the next ctx.waitForSignal(name) receives the payload')
      .argument('<execution-id>')
      .argument('<name>', 'the signal name the function waits for')
      .argument('[json-payload]', `the payload as JSON, e.g. '{"by":"ana"}'`, (text: string) => parseJson(text, 'json-payload', `'{"by":"ana"}'`), null),
  ).action(async (id: string, name: string, payload: unknown, options: RemoteOptions) => {
    await withClient(options, async (client) => {
      const delivery = await client.sendSignal(id, name, payload);
      process.stdout.write(delivery.delivered ? `delivered "${name}" to a waiting task\n` : `queued "${name}": the next wait for it receives it\n`);
    });
  });
}
