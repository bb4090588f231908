import { once } from 'node:events';
import { createServer, connect as connectTcp, type Socket } from 'node:net';

/**
 * A TCP proxy whose `freeze()` silently stops forwarding on the connections open at that moment
 * (a half-open connection: no error, no FIN), while new connections work.
 */
export async function startFreezableProxy(target: URL, defaultPort: number) {
  const pairs: Array<[Socket, Socket]> = [];
  const frozen: Socket[] = [];
  const server = createServer((downstream) => {
    const upstream = connectTcp(Number(target.port || defaultPort), target.hostname);
    for (const socket of [downstream, upstream]) socket.on('error', () => {});
    downstream.pipe(upstream).pipe(downstream);
    pairs.push([downstream, upstream]);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    /** `target` with the proxy's host and port. */
    url: Object.assign(new URL(target.href), { host: `127.0.0.1:${port}` }).href,
    freeze() {
      for (const [downstream, upstream] of pairs.splice(0)) {
        downstream.unpipe(upstream);
        upstream.unpipe(downstream);
        downstream.pause();
        upstream.pause();
        frozen.push(downstream, upstream);
      }
    },
    async close() {
      for (const socket of [...frozen, ...pairs.flat()]) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
