/** What every client command shares: where the server is, the API key, and one SDK client per run. */
import { Option, type Command } from 'commander';
import WebSocket from 'ws';
import { createSenpukiClient } from '../../../client/index.js';
import type { SenpukiClient } from '../../../client/senpukiClient.js';
import { CliError, EXIT_USAGE, toCliError } from './exitCodes.js';

/** Where the client commands look for a server unless told otherwise. */
export const DEFAULT_SENPUKI_URL = 'http://127.0.0.1:4000/graphql';

/** The options `withRemoteOptions` adds. */
export interface RemoteOptions {
  url: string;
  apiKey?: string;
}

/** Adds --url (SENPUKI_URL) and --api-key (SENPUKI_API_KEY). */
export function withRemoteOptions(command: Command): Command {
  return command
    .addOption(new Option('--url <url>', 'GraphQL endpoint of the server').env('SENPUKI_URL').default(DEFAULT_SENPUKI_URL))
    .addOption(new Option('--api-key <key>', 'API key, when the server requires one').env('SENPUKI_API_KEY'));
}

/** "http://host:4000" and "host:4000" mean the server's GraphQL path. */
export function graphqlUrl(url: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(url) ? url : `http://${url}`;
  const parsed = new URL(withScheme);
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = '/graphql';
  return parsed.href;
}

/**
 * Runs `action` with a client for the server in `options`, closes the client after, and turns
 * any failure into a CliError (the server's message and the exit code to leave with).
 */
export async function withClient<T>(options: RemoteOptions, action: (client: SenpukiClient) => Promise<T>): Promise<T> {
  let url: string;
  try {
    url = graphqlUrl(options.url);
  } catch {
    throw new CliError(`--url must be the server's GraphQL URL, e.g. ${DEFAULT_SENPUKI_URL}; got ${JSON.stringify(options.url)}`, EXIT_USAGE);
  }
  const client = createSenpukiClient({ url, token: options.apiKey || undefined, webSocketImpl: WebSocket });
  try {
    return await action(client);
  } catch (error) {
    throw toCliError(error, url);
  } finally {
    await client.close();
  }
}
