import { Command } from 'commander';
import { formatAge } from '../../../client/dashboard/time.js';
import { jsonOutput, painter, table } from './output.js';
import { withClient, withRemoteOptions, type RemoteOptions } from './remote.js';

/** `senpuki workers`: the live workers of every process on the server's store. */
export function workersCommand(): Command {
  return withRemoteOptions(
    new Command('workers').description('list the live workers: what each serves and how busy it is').option('--json', 'print them as JSON'),
  ).action(async (options: RemoteOptions & { json?: boolean }) => {
    await withClient(options, async (client) => {
      const workers = await client.workers();
      if (options.json) {
        process.stdout.write(`${jsonOutput(workers)}\n`);
        return;
      }
      if (workers.length === 0) {
        process.stdout.write('No live worker: start one with `senpuki worker` (or `senpuki serve` with a worker).\n');
        return;
      }
      const paint = painter(process.stdout);
      const rows = workers.map((worker) => [
        paint('bold', worker.id),
        `${worker.running}/${worker.concurrency}${worker.suspended ? ` +${worker.suspended} waiting` : ''}`,
        worker.queues.join(','),
        worker.tags ? worker.tags.join(',') : 'any',
        String(worker.functions.length),
        formatAge(worker.startedAt),
        formatAge(worker.lastSeenAt),
      ]);
      process.stdout.write(`${table(['WORKER', 'BUSY', 'QUEUES', 'TAGS', 'FUNCTIONS', 'STARTED', 'SEEN'], rows, paint)}\n`);
    });
  });
}
