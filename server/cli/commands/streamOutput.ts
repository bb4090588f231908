/**
 * Prints a stream of an execution as `senpuki watch <id> --stream <name>` shows it: text chunks
 * as they come (an LLM's tokens, words), any other chunk as one line of JSON (rows, log entries).
 */
import type { SenpukiClient } from '../../../client/senpukiClient.js';

/** Writes stream `name` of execution `id` to `out` until it is closed; a new run is announced on `notes`. Resolves with the chunk count. */
export async function printStream(client: SenpukiClient, id: string, name: string, out: NodeJS.WritableStream, notes: NodeJS.WritableStream): Promise<number> {
  let count = 0;
  let run = 0;
  let endsLine = true;
  for await (const chunk of client.stream(id, name)) {
    if (run !== 0 && chunk.run !== run) {
      notes.write(`${endsLine ? '' : '\n'}[run ${chunk.run}: the task ran again and wrote something else; its whole output follows]\n`);
      endsLine = true;
    }
    run = chunk.run;
    count += 1;
    const text = typeof chunk.data === 'string' ? chunk.data : `${JSON.stringify(chunk.data)}\n`;
    if (text.length > 0) {
      out.write(text);
      endsLine = text.endsWith('\n');
    }
  }
  // The shell's prompt on a line of its own.
  if (!endsLine) out.write('\n');
  return count;
}
