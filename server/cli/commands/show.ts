import { Command } from 'commander';
import { formatAge, formatDurationMs } from '../../../client/dashboard/time.js';
import { buildTaskTree, countTasks, type TaskNode } from '../../../client/taskTree.js';
import type { Execution, Task } from '../../../client/types.js';
import { durationOf } from './executions.js';
import { jsonOutput, painter, preview, stateText, table } from './output.js';
import { withClient, withRemoteOptions, type RemoteOptions } from './remote.js';

type Paint = ReturnType<typeof painter>;

function taskLabel(task: Task): string {
  if (task.kind === 'SLEEP') return `sleep until ${new Date(task.scheduledFor).toISOString()}`;
  if (task.kind === 'SIGNAL') return `signal "${task.function}"`;
  return task.function;
}

function taskOutcome(task: Task): string {
  // A completed task keeps the error of its last failed attempt; its result is what counts.
  if (task.state === 'COMPLETED') return preview(task.result, 50) + (task.attempt > 1 ? ` (after ${task.attempt - 1} failed)` : '');
  if (task.error) return `${task.error.name}: ${task.error.message}`;
  return '';
}

function taskDuration(task: Task): string {
  if (!task.startedAt) return '—';
  return formatDurationMs((task.finishedAt ? Date.parse(task.finishedAt) : Date.now()) - Date.parse(task.startedAt));
}

/** Rows of the tree, each name prefixed with box-drawing branches. */
function treeRows(node: TaskNode, prefix: string, childPrefix: string, paint: Paint, rows: string[][]): void {
  const { task } = node;
  const outcome = taskOutcome(task);
  rows.push([
    paint('dim', prefix) + (task.kind === 'FUNCTION' ? paint('bold', taskLabel(task)) : taskLabel(task)),
    stateText(task.state, paint),
    task.kind === 'FUNCTION' ? `${task.attempt}/${task.maxAttempts}` : '',
    taskDuration(task),
    task.error && task.state !== 'COMPLETED' ? paint('red', outcome) : paint('dim', outcome),
  ]);
  node.children.forEach((child, index) => {
    const last = index === node.children.length - 1;
    treeRows(child, childPrefix + (last ? '└─ ' : '├─ '), childPrefix + (last ? '   ' : '│  '), paint, rows);
  });
}

/** An execution and its task tree, as text. */
export function renderExecution(execution: Execution, tasks: Task[], paint: Paint): string {
  const field = (label: string, value: string) => `  ${paint('dim', label.padEnd(9))} ${value}`;
  const lines = [
    `${paint('bold', execution.function)}  ${stateText(execution.state, paint)}  ${execution.id}`,
    field('created', `${formatAge(execution.createdAt)} (${execution.createdAt})`),
    field('duration', durationOf(execution)),
    field('queue', `${execution.queue}   priority ${execution.priority}   tags ${execution.tags.length ? execution.tags.join(', ') : '—'}`),
  ];
  if (execution.progress) lines.push(field('progress', `${execution.progress.done}/${execution.progress.total}${execution.progress.message ? ` ${execution.progress.message}` : ''}`));
  lines.push(field('args', preview(execution.args, 100)));
  if (execution.state === 'COMPLETED') lines.push(field('result', preview(execution.result, 100)));
  if (execution.error) lines.push(field('error', paint('red', `${execution.error.name}: ${execution.error.message}`)));
  if (execution.waitingReason) lines.push(field('waiting', paint('yellow', execution.waitingReason)));
  const counts = countTasks(tasks);
  const rows: string[][] = [];
  for (const root of buildTaskTree(tasks)) treeRows(root, '', '', paint, rows);
  lines.push('', `${paint('bold', 'Tasks')}  ${counts.finished}/${counts.total} finished`, table(['TASK', 'STATE', 'ATTEMPT', 'DURATION', 'OUTCOME'], rows, paint));
  return lines.join('\n');
}

/** `senpuki show <id>`: an execution and its task tree. */
export function showCommand(): Command {
  return withRemoteOptions(
    new Command('show').description('show an execution and its task tree').argument('<execution-id>').option('--json', 'print the execution and its tasks as JSON'),
  ).action(async (id: string, options: RemoteOptions & { json?: boolean }) => {
    await withClient(options, async (client) => {
      const [execution, tasks] = await Promise.all([client.execution(id), client.tasks(id)]);
      if (options.json) process.stdout.write(`${jsonOutput({ ...execution, tasks })}\n`);
      else process.stdout.write(`${renderExecution(execution, tasks, painter(process.stdout))}\n`);
    });
  });
}
