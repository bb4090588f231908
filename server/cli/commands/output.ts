/** Terminal output of the client commands: colours (only on a TTY, never with NO_COLOR), state names, tables. */
import type { ExecutionState, TaskState } from '../../../client/types.js';

const ANSI = { reset: '\x1b[0m', bold: '\x1b[1m', dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', blue: '\x1b[34m', magenta: '\x1b[35m', cyan: '\x1b[36m', grey: '\x1b[90m' };
type Colour = keyof typeof ANSI;

/** Whether to colour what goes to `stream`: a TTY, unless NO_COLOR is set; FORCE_COLOR forces it. */
export function useColour(stream: NodeJS.WriteStream): boolean {
  if (process.env.NO_COLOR) return false;
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') return true;
  return !!stream.isTTY;
}

/** Colouring functions for one stream (identity when colour is off). */
export function painter(stream: NodeJS.WriteStream): (colour: Colour, text: string) => string {
  const on = useColour(stream);
  return (colour, text) => (on ? `${ANSI[colour]}${text}${ANSI.reset}` : text);
}

const STATE_COLOURS: Record<ExecutionState | TaskState, Colour> = {
  PENDING: 'grey',
  RUNNING: 'blue',
  WAITING: 'cyan',
  COMPLETED: 'green',
  FAILED: 'red',
  TIMED_OUT: 'yellow',
  CANCELLING: 'magenta',
  CANCELLED: 'magenta',
};

/** "timed out", coloured like the dashboard (pending grey, running blue, completed green, ...). */
export function stateText(state: ExecutionState | TaskState, paint: (colour: Colour, text: string) => string): string {
  return paint(STATE_COLOURS[state], state.toLowerCase().replace('_', ' '));
}

/**
 * JSON for `--json`: states as the CLI writes them everywhere else and as `--state` takes them
 * (`timed_out`, not the GraphQL enum's `TIMED_OUT`), in every row and nested task.
 */
export function jsonOutput(value: unknown): string {
  return JSON.stringify(value, (key, member) => (key === 'state' && typeof member === 'string' ? member.toLowerCase() : member), 2);
}

/** Visible width of a string (without colour codes). */
export function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').length;
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - visibleLength(text)));
}

/** Columns padded to their widest cell, two spaces apart; the header dimmed. */
export function table(headers: string[], rows: string[][], paint: (colour: Colour, text: string) => string): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => visibleLength(row[column] ?? ''))));
  const line = (cells: string[]) => cells.map((cell, column) => (column === cells.length - 1 ? cell : pad(cell, widths[column]!))).join('  ').trimEnd();
  return [paint('dim', line(headers)), ...rows.map(line)].join('\n');
}

/** One line of JSON, cut to `maxLength` characters. */
export function preview(value: unknown, maxLength = 60): string {
  const text = value === undefined ? '' : JSON.stringify(value);
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}
