import { Command, InvalidArgumentError } from 'commander';
import { formatAge, formatDurationMs } from '../../../client/dashboard/time.js';
import type { Execution, ExecutionFilter, ExecutionState } from '../../../client/types.js';
import { jsonOutput, painter, stateText, table } from './output.js';
import { MAX_GRAPHQL_PAGE_SIZE } from '../../engine/validation.js';
import { integer } from './parse.js';
import { withClient, withRemoteOptions, type RemoteOptions } from './remote.js';

const STATES: readonly ExecutionState[] = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'TIMED_OUT', 'CANCELLING', 'CANCELLED'];
/** Rows `executions` lists unless --limit says otherwise. */
export const DEFAULT_EXECUTIONS_LIMIT = 20;

/** "failed,timed-out" → ["FAILED", "TIMED_OUT"]. */
function parseStates(text: string, previous: ExecutionState[] = []): ExecutionState[] {
  const states = text.split(',').map((item) => item.trim().toUpperCase().replace('-', '_')).filter(Boolean);
  const unknown = states.filter((state) => !(STATES as string[]).includes(state));
  if (unknown.length) throw new InvalidArgumentError(`unknown state ${unknown.join(', ')}; use ${STATES.map((s) => s.toLowerCase()).join(', ')}`);
  return [...previous, ...(states as ExecutionState[])];
}

/** How long an execution ran (or has been running). */
export function durationOf(execution: Execution, nowMs = Date.now()): string {
  if (!execution.startedAt) return '—';
  return formatDurationMs((execution.finishedAt ? Date.parse(execution.finishedAt) : nowMs) - Date.parse(execution.startedAt));
}

interface ExecutionsOptions extends RemoteOptions {
  state?: ExecutionState[];
  function?: string;
  tag?: string;
  limit: number;
  json?: boolean;
}

/** `senpuki executions`: the newest executions as a compact table. */
export function executionsCommand(): Command {
  return withRemoteOptions(
    new Command('executions')
      .alias('ls')
      .description('list executions, newest first')
      .option('--state <states>', 'only these states, comma-separated (pending, running, completed, failed, timed_out, cancelling, cancelled)', parseStates)
      .option('--function <name>', 'only this function')
      .option('--tag <tag>', 'only executions with this tag')
      .option('-n, --limit <n>', `rows to show (1-${MAX_GRAPHQL_PAGE_SIZE})`, integer(1, MAX_GRAPHQL_PAGE_SIZE), DEFAULT_EXECUTIONS_LIMIT)
      .option('--json', 'print the executions as JSON'),
  ).action(async (options: ExecutionsOptions) => {
    const filter: ExecutionFilter = {};
    if (options.state?.length) filter.state = options.state;
    if (options.function) filter.function = options.function;
    if (options.tag) filter.tag = options.tag;
    await withClient(options, async (client) => {
      const page = await client.executions(filter, { first: options.limit });
      if (options.json) {
        process.stdout.write(`${jsonOutput(page.executions)}\n`);
        return;
      }
      const paint = painter(process.stdout);
      if (page.executions.length === 0) {
        process.stdout.write(Object.keys(filter).length ? 'No executions match.\n' : 'No executions yet. Start one with: senpuki dispatch <function> \'[args]\'\n');
        return;
      }
      const rows = page.executions.map((execution) => [
        execution.id,
        execution.function,
        stateText(execution.state, paint),
        formatAge(execution.createdAt),
        durationOf(execution),
        execution.progress ? `${execution.progress.done}/${execution.progress.total}` : '',
        execution.tags.join(','),
      ]);
      process.stdout.write(`${table(['ID', 'FUNCTION', 'STATE', 'CREATED', 'DURATION', 'PROGRESS', 'TAGS'], rows, paint)}\n`);
      if (page.totalCount > page.executions.length) process.stdout.write(paint('dim', `${page.executions.length} of ${page.totalCount}; --limit shows more\n`));
    });
  });
}

/** `senpuki functions`: what the server can dispatch. */
export function functionsCommand(): Command {
  return withRemoteOptions(new Command('functions').description('list the durable functions the server can dispatch').option('--json', 'print them as JSON')).action(
    async (options: RemoteOptions & { json?: boolean }) => {
      await withClient(options, async (client) => {
        const functions = await client.functions();
        if (options.json) {
          process.stdout.write(`${jsonOutput(functions)}\n`);
          return;
        }
        const paint = painter(process.stdout);
        const rows = functions.map((fn) => [paint('bold', fn.name), fn.queue, fn.retry.maxAttempts > 1 ? `${fn.retry.maxAttempts} attempts` : 'no retries', fn.description ?? '']);
        process.stdout.write(`${table(['NAME', 'QUEUE', 'RETRY', 'DESCRIPTION'], rows, paint)}\n`);
      });
    },
  );
}
