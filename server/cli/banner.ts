import { DEFAULT_DATA_DIR } from '../store/embeddedDb.js';
import { DEFAULT_SENPUKI_URL } from './commands/remote.js';
import type { Running } from './runServe.js';

/** What `serve` prints once it is ready: where everything is, and a first command to try. */
export function banner(running: Running, dataDir: string = DEFAULT_DATA_DIR): string {
  const { server, senpuki, worker, exampleArgs } = running;
  const store =
    senpuki.store.kind === 'pglite'
      ? `embedded store in ${dataDir}`
      : `Postgres, ${senpuki.notifications.kind === 'redis' ? 'Redis' : 'LISTEN/NOTIFY'} notifications`;
  const lines = [
    '',
    `  Senpuki is running (${store}, ${worker ? `worker with ${worker.health().freeSlots} slots` : 'no worker'})`,
    '',
    `  Dashboard  ${server!.url}/`,
    `  GraphQL    ${server!.graphqlUrl}   (${running.graphiql ? 'GraphiQL in the browser; ' : ''}graphql-ws and SSE on the same path)`,
    `  Health     ${server!.url}/healthz   Metrics ${server!.url}/metrics`,
    `  Functions  ${senpuki.registry.names().sort().join(', ')}`,
  ];
  const [example] = Object.entries(exampleArgs);
  if (example) {
    const url = server!.graphqlUrl === DEFAULT_SENPUKI_URL ? '' : ` --url ${server!.graphqlUrl}`;
    lines.push('', `  Try it     npx senpuki dispatch ${example[0]} '${JSON.stringify(example[1])}' --wait${url}`);
  }
  lines.push('  Stop       Ctrl+C', '');
  return lines.join('\n');
}
