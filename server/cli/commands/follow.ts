/**
 * Follows an execution to its end, as `dispatch --wait` and `watch` show it: on a TTY one line
 * redrawn in place (spinner, a bar of finished/total tasks, state, elapsed time, progress
 * message); otherwise a plain line whenever something changes, for logs and CI.
 */
import type { SenpukiClient } from '../../../client/senpukiClient.js';
import type { Execution } from '../../../client/types.js';
import type { TaskListSnapshot } from '../../../client/taskTree.js';
import { formatDurationMs } from '../../../client/dashboard/time.js';
import { painter, stateText } from './output.js';

/** Width of the task bar in characters. */
const BAR_WIDTH = 24;
/** Redraw interval of the TTY line (spinner and elapsed time). */
const REDRAW_INTERVAL_MS = 100;
/** Progress messages are cut to this, so the redrawn line stays on one terminal row. */
const MAX_MESSAGE_LENGTH = 40;
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

function elapsedMs(execution: Execution, nowMs = Date.now()): number {
  const from = Date.parse(execution.startedAt ?? execution.createdAt);
  return (execution.finishedAt ? Date.parse(execution.finishedAt) : nowMs) - from;
}

function bar(finished: number, total: number): string {
  const filled = total > 0 ? Math.round((finished / total) * BAR_WIDTH) : 0;
  return '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled);
}

/** The closing line: "✓ completed in 1.2s", "✗ failed after 0.4s: NonRetryableError: ...". */
export function outcomeLine(execution: Execution, stream: NodeJS.WriteStream): string {
  const paint = painter(stream);
  const took = formatDurationMs(elapsedMs(execution));
  switch (execution.state) {
    case 'COMPLETED':
      return paint('green', `✓ completed in ${took}`);
    case 'FAILED':
      return paint('red', `✗ failed after ${took}`) + (execution.error ? `: ${execution.error.name}: ${execution.error.message}` : '');
    case 'TIMED_OUT':
      return paint('yellow', `✗ timed out after ${took}`) + (execution.error ? `: ${execution.error.message}` : '');
    default:
      return paint('magenta', `✗ ${execution.state.toLowerCase()} after ${took}`);
  }
}

/** Shows `id` live on `stream` until its terminal state; resolves with the final execution. */
export async function followExecution(client: SenpukiClient, id: string, stream: NodeJS.WriteStream = process.stderr): Promise<Execution> {
  const paint = painter(stream);
  const tty = !!stream.isTTY;
  let latest: TaskListSnapshot | undefined;
  let frame = 0;
  let lastLine = '';

  const describe = (snapshot: TaskListSnapshot, withBar: boolean) => {
    const { execution, counts } = snapshot;
    const progress = execution.progress;
    const parts = [
      withBar ? paint('blue', bar(counts.finished, counts.total)) : '',
      `${counts.finished}/${counts.total} tasks`,
      stateText(execution.state, paint),
      progress ? `progress ${progress.done}/${progress.total}${progress.message ? ` ${progress.message.slice(0, MAX_MESSAGE_LENGTH)}` : ''}` : '',
    ];
    return parts.filter(Boolean).join('  ');
  };
  const draw = () => {
    if (!latest) return;
    frame = (frame + 1) % SPINNER.length;
    const line = `${paint('cyan', SPINNER[frame]!)} ${describe(latest, true)}  ${paint('dim', formatDurationMs(elapsedMs(latest.execution)))}`;
    stream.write(`\r\x1b[K${line}`);
  };
  const timer = tty ? setInterval(draw, REDRAW_INTERVAL_MS) : undefined;
  timer?.unref();
  try {
    for await (const snapshot of client.taskListUpdates(id)) {
      latest = snapshot;
      if (tty) draw();
      else {
        const line = describe(snapshot, false);
        if (line !== lastLine) stream.write(`${line}\n`);
        lastLine = line;
      }
    }
  } finally {
    clearInterval(timer);
    if (tty) stream.write('\r\x1b[K');
  }
  if (!latest?.execution.terminal) throw new Error(`the updates of execution ${id} ended before its final state; run \`senpuki watch ${id}\` again`);
  return latest.execution;
}
