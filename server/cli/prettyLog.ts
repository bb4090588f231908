/**
 * Human-readable log lines for a terminal ("12:03:04 INFO  GraphQL server listening url=…"):
 * `senpuki serve` on a TTY logs like this; elsewhere it logs pino's JSON lines, for log shippers.
 * SENPUKI_LOG_FORMAT=json|pretty overrides the choice.
 */
import { painter } from './commands/output.js';

const LEVELS: Record<number, [string, Parameters<ReturnType<typeof painter>>[0]]> = {
  10: ['TRACE', 'grey'],
  20: ['DEBUG', 'grey'],
  30: ['INFO ', 'green'],
  40: ['WARN ', 'yellow'],
  50: ['ERROR', 'red'],
  60: ['FATAL', 'red'],
};
/** pino's own fields, not shown as key=value. */
const HIDDEN_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'v']);

/** Whether `senpuki serve` should log pretty lines to `stream`. */
export function wantsPrettyLogs(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.SENPUKI_LOG_FORMAT === 'json') return false;
  if (env.SENPUKI_LOG_FORMAT === 'pretty') return true;
  // Production logs go to a collector, terminal or not.
  return env.NODE_ENV !== 'production' && !!stream.isTTY;
}

function formatValue(key: string, value: unknown): string {
  if (key === 'err' && value && typeof value === 'object') {
    const error = value as { type?: string; message?: string; stack?: string };
    return process.env.SENPUKI_DEBUG && error.stack ? `\n${error.stack}` : `${error.type ?? 'Error'}: ${error.message ?? ''}`;
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A pino destination that turns each JSON line into one readable line on `out`. */
export function prettyLogStream(out: NodeJS.WriteStream): { write(line: string): void } {
  const paint = painter(out);
  return {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const [label, colour] = LEVELS[record.level as number] ?? ['LOG  ', 'grey'];
      const time = new Date(record.time as number).toTimeString().slice(0, 8);
      const fields = Object.entries(record)
        .filter(([key, value]) => !HIDDEN_KEYS.has(key) && value !== undefined)
        .map(([key, value]) => paint('dim', `${key}=`) + formatValue(key, value));
      out.write(`${paint('dim', time)} ${paint(colour, label)} ${String(record.msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}\n`);
    },
  };
}
